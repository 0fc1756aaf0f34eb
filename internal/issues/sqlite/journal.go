package sqlite

// migrationJournal creates the remediation journal's tables. Owned by the
// remediation work (internal/remediate); replaced there.
const migrationJournal = `CREATE TABLE journal_placeholder (id INTEGER PRIMARY KEY);`
