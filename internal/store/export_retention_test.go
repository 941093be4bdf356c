package store

// PruneSQL is the statement PruneEventPayloads runs, for the plan test.
const PruneSQL = pruneSQL
