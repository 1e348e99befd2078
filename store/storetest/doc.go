// Package storetest owns the behaviour every store.Store backend must show: RunTests drives a
// fresh store through versions and tombstones, conditional and atomic writes, token search,
// history with paging and point-in-time reads, byte-exact bodies, concurrent writers and
// cancellation. It is written against the contract in package store, not against any backend,
// so the embedded SQLite store and a MongoDB store pass the very same suite; a backend's own test
// file is a few lines that call RunTests with a function opening an empty store.
package storetest
