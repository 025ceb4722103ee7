// GraphQL Codegen's client preset on the service's committed schema: typed documents for
// every graphql(`...`) in src/, and gql/persisted-documents.json, the manifest of those
// documents by SHA-256 that the server loads with GRAPHQL_TRUSTED_DOCUMENTS.
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
    schema: '../../schema.graphql',
    documents: ['src/**/*.ts'],
    ignoreNoDocuments: false,
    generates: {
        './gql/': {
            preset: 'client',
            presetConfig: {
                fragmentMasking: false,
                persistedDocuments: { hashAlgorithm: 'sha256' },
            },
            config: {
                emitLegacyCommonJSImports: false, // ES modules: imports end in .js
                useTypeImports: true,
                enumsAsTypes: true,
                scalars: { DateTime: 'string', Long: 'number' },
            },
        },
    },
};

export default config;
