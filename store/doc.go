// Package store owns the persistence contract of Portico: the Store interface, the record of one
// resource version, the backend-neutral Query model and the index entries extracted at write time.
//
// Backends live in sub-packages (store/sqlite, later store/mongo) and must pass store/storetest.
// Backends never parse FHIR: they store the JSON bytes they are given and the index entries the
// fhir package extracted from them.
package store
