package server

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/mongo"
	"github.com/portico-health/portico/store/sqlite"
)

// opener opens one kind of store from the part of --store after its scheme.
type opener func(ctx context.Context, cfg Config, rest string, log *slog.Logger) (store.Store, error)

// openers maps the scheme of --store to the backend that serves it.
var openers = map[string]opener{
	"sqlite":      openSQLite,
	"mongodb":     openMongo,
	"mongodb+srv": openMongo,
}

// storeOpener splits --store into its backend and the rest of the location.
func storeOpener(location string) (opener, string, error) {
	if location == "" {
		return openSQLite, "", nil
	}
	scheme, rest, _ := strings.Cut(location, ":")
	o, ok := openers[scheme]
	if !ok {
		return nil, "", fmt.Errorf("store: unknown backend %q (expected sqlite, sqlite:/path, mongodb://... or mongodb+srv://...)", scheme)
	}
	return o, rest, nil
}

func openSQLite(ctx context.Context, cfg Config, rest string, log *slog.Logger) (store.Store, error) {
	dir := cfg.DataDir
	if rest != "" {
		dir = rest
	}
	return sqlite.Open(ctx, sqlite.Config{Dir: dir, Logger: log})
}

// openMongo opens the MongoDB backend; rest is the connection string after "mongodb:" or
// "mongodb+srv:", so the scheme is put back.
func openMongo(ctx context.Context, cfg Config, rest string, log *slog.Logger) (store.Store, error) {
	scheme := "mongodb"
	if strings.HasPrefix(cfg.Store, "mongodb+srv:") {
		scheme = "mongodb+srv"
	}
	return mongo.Open(ctx, mongo.Config{URI: scheme + ":" + rest, Logger: log})
}

// OpenStore opens the store that cfg.Store names.
func OpenStore(ctx context.Context, cfg Config, log *slog.Logger) (store.Store, error) {
	o, rest, err := storeOpener(cfg.Store)
	if err != nil {
		return nil, err
	}
	return o(ctx, cfg, rest, log)
}
