package main

import (
	"context"
	"flag"
	"log/slog"

	"github.com/portico-health/portico/server"
)

// reindexCommand is `portico admin reindex`: the store's own index rebuilt from the bodies, with
// no time limit (a large store takes minutes).
func reindexCommand() adminCmd {
	var base string
	return adminCmd{
		name: "reindex", synopsis: "--base-url URL [--data-dir DIR | --store URI]",
		summary: "rewrite the search index of every resource as this version indexes it (after an upgrade whose notes say so); the server may keep running",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&base, "base-url", "", "the server's public FHIR base URL, as given to serve (references to it are indexed as local ones)")
		},
		files: func(ctx context.Context, cfg server.Config, aio adminIO) error {
			if base == "" {
				return usageError("--base-url is required")
			}
			st, err := server.OpenStore(ctx, cfg, slog.New(slog.NewTextHandler(aio.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
			if err != nil {
				return err
			}
			stats, err := server.Reindex(ctx, st, base)
			if cerr := st.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			return printJSON(aio.stdout, stats)
		},
	}
}
