package sqlite

// migrationDeliveries creates the notification delivery state's tables.
// Owned by the reporting work (internal/notify); replaced there.
const migrationDeliveries = `CREATE TABLE deliveries_placeholder (id INTEGER PRIMARY KEY);`
