package sqlite

import (
	"context"
	"database/sql"
	"log/slog"
	"time"
)

// checkpointInterval is how often the checkpointer copies committed WAL frames into the
// database file.
const checkpointInterval = 200 * time.Millisecond

// checkpointFailureLog is how often checkpoints that keep failing are logged.
const checkpointFailureLog = time.Minute

// checkpointer moves SQLite's WAL checkpoints off the writer. With automatic checkpoints, the
// commit that crosses the threshold copies thousands of pages into the database file while
// every caller of its batch waits; that was a tenth of the writer's CPU under a create load.
// The writer's connection has wal_autocheckpoint off and this goroutine runs PASSIVE
// checkpoints from a connection of its own: they copy what no reader still needs without
// blocking the writer or the readers, so the copying runs beside the commits, on another core.
// A checkpoint moves data only from one durable file to another: crash safety is unchanged.
type checkpointer struct {
	db   *sql.DB
	log  *slog.Logger
	stop chan struct{}
	done chan struct{}
}

func startCheckpointer(path string, log *slog.Logger) *checkpointer {
	c := &checkpointer{db: openPool(path, []string{busyTimeout}, 1), log: log,
		stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

func (c *checkpointer) run() {
	defer close(c.done)
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	var failing, logged time.Time // since when checkpoints fail, and when that was last logged
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			err := c.checkpoint(context.Background(), "PASSIVE")
			switch {
			case err != nil && time.Since(logged) >= checkpointFailureLog:
				// Five times a second on a full disk: logged when it begins, then each minute.
				if failing.IsZero() {
					failing = time.Now()
				}
				logged = time.Now()
				c.log.Warn("sqlite checkpoint failed", "err", err, "failing_for", time.Since(failing).Round(time.Second).String())
			case err == nil && !failing.IsZero():
				c.log.Info("sqlite checkpoints succeed again", "failed_for", time.Since(failing).Round(time.Second).String())
				failing, logged = time.Time{}, time.Time{}
			}
		}
	}
}

// checkpoint runs one checkpoint of the given mode (PASSIVE, TRUNCATE...).
func (c *checkpointer) checkpoint(ctx context.Context, mode string) error {
	var busy, frames, copied int
	return c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &copied)
}

// close stops the goroutine and releases its connection; the store's last connection to
// close checkpoints what is left.
func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	return c.db.Close()
}
