// Example operations, from ../../examples/ (bundled as text by build.mjs). The tests parse
// those files, validate them against the live schema and run them, so they stay correct.
import createQuery from '../../examples/create-export.graphql';
import createVariables from '../../examples/create-export.variables.json';
import downloadQuery from '../../examples/download-export.graphql';
import downloadVariables from '../../examples/download-export.variables.json';
import followQuery from '../../examples/follow-export.graphql';
import followVariables from '../../examples/follow-export.variables.json';
import listQuery from '../../examples/list-exports.graphql';
import listVariables from '../../examples/list-exports.variables.json';

function example(title, summary, query, variables) {
  return { title, summary, query, variables: JSON.stringify(variables, null, 2) };
}

export const EXAMPLES = [
  example('List exports', 'a page of exports, with paging and a filter', listQuery, listVariables),
  example('Create an export', 'a mutation with its input in variables', createQuery, createVariables),
  example(
    'Follow an export',
    'a subscription: every change until it completes',
    followQuery,
    followVariables,
  ),
  example('Download', "a signed URL for the export's file", downloadQuery, downloadVariables),
];
