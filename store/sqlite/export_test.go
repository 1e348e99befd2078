package sqlite

import "strings"

// SchemaText identifies the schema for benchmark caches: a database built by one schema is
// not reused by another.
var SchemaText = strings.Join(schema, "\n")
