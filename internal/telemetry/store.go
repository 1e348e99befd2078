package telemetry

import (
	"context"
	"time"

	"github.com/portico-health/portico/store"
)

// storeOp is a method of store.Store, the label of the store metrics.
type storeOp uint8

const (
	opRead storeOp = iota
	opVRead
	opWrite
	opHistory
	opSearch
	opPurge
	opPing
	numStoreOps
)

var storeOpNames = [numStoreOps]string{"read", "vread", "write", "history", "search", "purge", "ping"}

func (op storeOp) String() string { return storeOpNames[op] }

// WrapStore returns st with every call timed (m) and, inside a traced request, a child span
// per call (t). With neither it returns st itself.
func WrapStore(st store.Store, m *Metrics, t *Tracing) store.Store {
	if m == nil && t == nil {
		return st
	}
	return &instrumented{Store: st, m: m, t: t}
}

type instrumented struct {
	store.Store
	m *Metrics
	t *Tracing
}

// Unwrap returns the store underneath.
func (s *instrumented) Unwrap() store.Store { return s.Store }

// Capabilities are those of the store underneath.
func (s *instrumented) Capabilities() store.Capabilities { return store.CapabilitiesOf(s.Store) }

func (s *instrumented) Read(ctx context.Context, typ, id string) (store.Record, error) {
	start := time.Now()
	ctx, span := s.t.startStore(ctx, opRead, typ)
	rec, err := s.Store.Read(ctx, typ, id)
	endStore(span, err)
	s.m.observeStore(opRead, start, err)
	return rec, err
}

func (s *instrumented) VRead(ctx context.Context, typ, id string, version int64) (store.Record, error) {
	start := time.Now()
	ctx, span := s.t.startStore(ctx, opVRead, typ)
	rec, err := s.Store.VRead(ctx, typ, id, version)
	endStore(span, err)
	s.m.observeStore(opVRead, start, err)
	return rec, err
}

func (s *instrumented) Write(ctx context.Context, writes ...store.Write) error {
	start := time.Now()
	typ := ""
	if len(writes) == 1 {
		typ = writes[0].Type
	}
	ctx, span := s.t.startStore(ctx, opWrite, typ)
	err := s.Store.Write(ctx, writes...)
	endStore(span, err)
	s.m.observeStore(opWrite, start, err)
	return err
}

func (s *instrumented) History(ctx context.Context, q store.HistoryQuery) (store.Page, error) {
	start := time.Now()
	ctx, span := s.t.startStore(ctx, opHistory, q.Type)
	page, err := s.Store.History(ctx, q)
	endStore(span, err)
	s.m.observeStore(opHistory, start, err)
	return page, err
}

func (s *instrumented) Search(ctx context.Context, q store.Query) (store.Page, error) {
	start := time.Now()
	typ := ""
	if len(q.Types) == 1 {
		typ = q.Types[0]
	}
	ctx, span := s.t.startStore(ctx, opSearch, typ)
	page, err := s.Store.Search(ctx, q)
	endStore(span, err)
	s.m.observeStore(opSearch, start, err)
	return page, err
}

func (s *instrumented) Purge(ctx context.Context, typ, id string) error {
	start := time.Now()
	ctx, span := s.t.startStore(ctx, opPurge, typ)
	err := s.Store.Purge(ctx, typ, id)
	endStore(span, err)
	s.m.observeStore(opPurge, start, err)
	return err
}

func (s *instrumented) Ping(ctx context.Context) error {
	start := time.Now()
	ctx, span := s.t.startStore(ctx, opPing, "")
	err := s.Store.Ping(ctx)
	endStore(span, err)
	s.m.observeStore(opPing, start, err)
	return err
}
