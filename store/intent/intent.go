// Package intent makes a client's write and the follow-up writes a server hook adds to it (the
// triage reply, the answered message completed) correct on a store without multi-document
// transactions, such as a standalone MongoDB.
//
// With transactions the writes go to the store together, as always. Without them, Write:
//
//  1. records an intent (one PorticoIntent record: every write, in the order it will apply
//     them) in one single-document write;
//  2. applies the one write that can lose a race first (an update, a delete, a conditional or
//     client-named create: the commit point), then the others, which are creates of ids the
//     server just made (store.Write.Fresh) and cannot fail but by a crash;
//  3. purges the intent.
//
// If the first write fails, nothing was applied: the intent is purged and the error returned
// (the API retries a lost race as usual). If the process stops after the commit point, Recover
// (run at start and every minute) finds the intent and applies the writes that are missing,
// each exactly once; an intent whose commit point never applied is dropped. Readers may see
// the first write a few milliseconds before the others; nothing is ever half-applied for good.
//
// A set of writes with more than one write that can lose a race (two updates), or with more
// than one client write (a transaction Bundle: its readers must see all of it or none), cannot
// be sequenced this way and is refused with store.ErrNoTransactions, as the store itself would.
package intent

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/portico-health/portico/store"
)

// Type is the record type of intents.
const Type = "PorticoIntent"

// RecoverAge is how old an intent must be before Recover touches it: longer than any request
// that may still be applying it.
const RecoverAge = 2 * time.Minute

// applyTimeout bounds the sequence of one request, which runs to its end even if the client
// goes away (a half-applied sequence would otherwise wait for Recover).
const applyTimeout = time.Minute

// Store sequences follow-up writes on a store without transactions.
type Store struct {
	store.Store
	log *slog.Logger
	now func() time.Time

	// afterStep, when set (tests), runs after each step of a sequence: 0 after the intent is
	// recorded, i after the i-th write. An error stops the sequence there, as a crash would.
	afterStep func(step int) error
}

// FailpointEnv names the environment variable of the crash test (e2e TestMongoCrashRecovery):
// set to "exit-after-commit", the process exits at once after the first write of a sequence,
// as a crash would, before its follow-ups. Never set it in production.
const FailpointEnv = "PORTICO_FAILPOINT"

// Wrap returns st with sequenced follow-ups when st has no transactions (and st itself
// otherwise, in a Store that only adds Recover).
func Wrap(st store.Store, log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{Store: st, log: log, now: time.Now}
	if os.Getenv(FailpointEnv) == "exit-after-commit" {
		log.Warn("intent: failpoint set: the process exits after the first write of a sequence (a crash test)")
		s.afterStep = func(step int) error {
			if step == 1 {
				os.Exit(3)
			}
			return nil
		}
	}
	return s
}

// Capabilities are those of the store underneath: follow-ups are not transactions.
func (s *Store) Capabilities() store.Capabilities { return store.CapabilitiesOf(s.Store) }

// raceable reports whether w can fail for a reason other than a crash.
func raceable(w store.Write) bool {
	return !(w.Op == store.OpCreate && w.Fresh && w.IfNoneExist == nil)
}

// Write applies writes atomically when the store can, else in sequence with an intent.
func (s *Store) Write(ctx context.Context, writes ...store.Write) error {
	if len(writes) <= 1 || store.CapabilitiesOf(s.Store).Transactions {
		return s.Store.Write(ctx, writes...)
	}
	order, err := sequence(writes)
	if err != nil {
		return err
	}
	id := uuid.Must(uuid.NewV7()).String()
	body, err := encode(order, s.now())
	if err != nil {
		return err
	}
	if err := s.Store.Write(ctx, store.Write{Op: store.OpCreate, Type: Type, ID: id, Version: 1,
		LastUpdated: s.now().UTC(), Body: body, Fresh: true}); err != nil {
		return err
	}
	// From here the sequence runs to its end whatever the client does.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), applyTimeout)
	defer cancel()
	if err := s.step(0); err != nil {
		return err
	}
	if err := s.Store.Write(ctx, order[0]); err != nil {
		if perr := s.Store.Purge(ctx, Type, id); perr != nil {
			s.log.Error("intent: purge after a failed first write", "intent", id, "error", perr)
		}
		return err
	}
	if err := s.step(1); err != nil {
		return err
	}
	for i, w := range order[1:] {
		if err := s.Store.Write(ctx, w); err != nil {
			// Cannot lose a race: the store failed. Recover finishes the sequence.
			s.log.Error("intent: a follow-up write failed; it will be applied by recovery", "intent", id,
				"type", w.Type, "error", err)
			return fmt.Errorf("intent: follow-up %s/%s: %w", w.Type, w.ID, err)
		}
		if err := s.step(i + 2); err != nil {
			return err
		}
	}
	if err := s.Store.Purge(ctx, Type, id); err != nil {
		s.log.Warn("intent: purge after the sequence; recovery will", "intent", id, "error", err)
	}
	return nil
}

func (s *Store) step(i int) error {
	if s.afterStep != nil {
		return s.afterStep(i)
	}
	return nil
}

// sequence orders writes: the one that can lose a race first, then the others as given. More
// than one such write cannot be sequenced, nor more than one client write (Service ""): a
// client's transaction must be atomic for its readers too, which only the store can do.
func sequence(writes []store.Write) ([]store.Write, error) {
	first, client := -1, 0
	for _, w := range writes {
		if w.Service == "" {
			client++
		}
	}
	if client > 1 {
		return nil, store.ErrNoTransactions
	}
	for i, w := range writes {
		if raceable(w) {
			if first >= 0 {
				return nil, store.ErrNoTransactions
			}
			first = i
		}
	}
	if first < 0 {
		first = 0
	}
	order := make([]store.Write, 0, len(writes))
	order = append(order, writes[first])
	for i, w := range writes {
		if i != first {
			order = append(order, w)
		}
	}
	return order, nil
}

// record is an intent's body: JSON around the gob of the writes (index ranges may be
// infinite, which JSON cannot say).
type record struct {
	Created time.Time `json:"created"`
	Writes  []byte    `json:"writes"`
}

func encode(writes []store.Write, now time.Time) ([]byte, error) {
	ws := make([]store.Write, len(writes))
	for i, w := range writes {
		w.IfNoneExist = nil // only the first write may have one, and it is never replayed
		ws[i] = w
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(ws); err != nil {
		return nil, err
	}
	return json.Marshal(record{Created: now.UTC(), Writes: buf.Bytes()})
}

func decode(body []byte) (record, []store.Write, error) {
	var r record
	if err := json.Unmarshal(body, &r); err != nil {
		return r, nil, err
	}
	var ws []store.Write
	err := gob.NewDecoder(bytes.NewReader(r.Writes)).Decode(&ws)
	return r, ws, err
}

// applied reports whether w is in the store: the version it creates exists with its body.
func (s *Store) applied(ctx context.Context, w store.Write) (bool, error) {
	rec, err := s.Store.VRead(ctx, w.Type, w.ID, w.Version)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case errors.Is(err, store.ErrGone):
		return w.Op == store.OpDelete, nil
	case err != nil:
		return false, err
	}
	return bytes.Equal(rec.Body, w.Body), nil
}

// Recover finishes or drops the intents older than RecoverAge: when the first write of an
// intent is in the store, the missing follow-ups are applied; when it is not, the request
// failed or stopped before its commit point, and the intent is dropped. It returns how many
// intents it settled.
func (s *Store) Recover(ctx context.Context) (int, error) {
	n := 0
	var errs []error
	page, err := s.Store.Search(ctx, store.Query{Types: []string{Type}, Count: 100})
	for {
		if err != nil {
			return n, errors.Join(append(errs, err)...)
		}
		for _, rec := range page.Records {
			done, err := s.settle(ctx, rec)
			if err != nil {
				errs = append(errs, fmt.Errorf("intent %s: %w", rec.ID, err))
				continue
			}
			if done {
				n++
			}
		}
		if page.Next == "" {
			return n, errors.Join(errs...)
		}
		page, err = s.Store.Search(ctx, store.Query{Types: []string{Type}, Count: 100, Cursor: page.Next})
	}
}

func (s *Store) settle(ctx context.Context, rec store.Record) (bool, error) {
	r, writes, err := decode(rec.Body)
	if err != nil {
		return false, err // left alone and reported: never guess
	}
	if s.now().Sub(r.Created) < RecoverAge {
		return false, nil
	}
	if len(writes) > 0 {
		ok, err := s.applied(ctx, writes[0])
		if err != nil {
			return false, err
		}
		if ok {
			for _, w := range writes[1:] {
				ok, err := s.applied(ctx, w)
				if err != nil {
					return false, err
				}
				if ok {
					continue
				}
				if err := s.Store.Write(ctx, w); err != nil {
					return false, err
				}
				s.log.Info("intent: recovered a follow-up write", "intent", rec.ID, "type", w.Type, "id", w.ID)
			}
		} else {
			s.log.Info("intent: dropped a sequence that never reached its first write", "intent", rec.ID)
		}
	}
	return true, s.Store.Purge(ctx, Type, rec.ID)
}
