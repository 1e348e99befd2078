package main

import (
	"context"
	"errors"
	"flag"

	"github.com/portico-health/portico/server"
	"github.com/portico-health/portico/store/sqlite"
)

// errNotEmbedded: backup and restore copy the embedded store's file; MongoDB has its own tools.
var errNotEmbedded = errors.New("backup and restore are for the embedded store (--data-dir or --store sqlite:/dir); back up MongoDB with mongodump or your provider's snapshots (docs/mongodb.md)")

// backupCommands are `portico admin backup` and `portico admin restore`.
func backupCommands() []adminCmd {
	var out, from string
	return []adminCmd{
		{
			name: "backup", synopsis: "--out FILE [--data-dir DIR]",
			summary: "copy the embedded store into a new file, consistently, while the server runs and keeps serving",
			flags: func(fs *flag.FlagSet) {
				fs.StringVar(&out, "out", "", "the backup file to write (must not exist; 0600: it holds patient data and the signing keys)")
			},
			files: func(ctx context.Context, cfg server.Config, aio adminIO) error {
				dir := cfg.SQLiteDir()
				if dir == "" {
					return errNotEmbedded
				}
				if out == "" {
					return usageError("--out is required")
				}
				info, err := sqlite.Backup(ctx, dir, out)
				if err != nil {
					return err
				}
				return printJSON(aio.stdout, info)
			},
		},
		{
			name: "restore", synopsis: "--from FILE --data-dir DIR",
			summary: "make a backup the store of a data directory that holds none (stop Portico first; docs/operations.md)",
			flags: func(fs *flag.FlagSet) {
				fs.StringVar(&from, "from", "", "the backup file (written by portico admin backup)")
			},
			files: func(ctx context.Context, cfg server.Config, aio adminIO) error {
				dir := cfg.SQLiteDir()
				if dir == "" {
					return errNotEmbedded
				}
				if from == "" {
					return usageError("--from is required")
				}
				info, err := sqlite.Restore(ctx, from, dir)
				if err != nil {
					return err
				}
				return printJSON(aio.stdout, info)
			},
		},
	}
}
