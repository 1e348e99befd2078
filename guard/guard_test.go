package guard_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portico-health/portico/fhir"
	"github.com/portico-health/portico/guard"
	"github.com/portico-health/portico/policy"
	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/sqlite"
)

// viewEnv is a raw store with a guard Source over it.
type viewEnv struct {
	t   *testing.T
	st  store.Store
	src *guard.Source
	now time.Time
}

func newViewEnv(t *testing.T, services ...policy.Principal) *viewEnv {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Dir: t.TempDir(), Sync: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	src, err := guard.New(guard.Config{Store: st, Policy: policy.New(policy.Options{}), BaseURL: confBase, Services: services})
	if err != nil {
		t.Fatal(err)
	}
	return &viewEnv{t: t, st: st, src: src, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// write stores version v of typ/id with body (nil: a tombstone), straight into the store.
func (e *viewEnv) write(typ, id string, v int64, body string) {
	e.t.Helper()
	e.now = e.now.Add(time.Second)
	w := e.writeOf(typ, id, v, body)
	if err := e.st.Write(e.t.Context(), w); err != nil {
		e.t.Fatal(err)
	}
}

func (e *viewEnv) writeOf(typ, id string, v int64, body string) store.Write {
	e.t.Helper()
	if body == "" {
		return store.Write{Op: store.OpDelete, Type: typ, ID: id, Version: v, LastUpdated: e.now}
	}
	b := fmt.Sprintf(`{"resourceType":%q,"id":%q,"meta":{"versionId":"%d","lastUpdated":%q}%s}`, typ, id, v, fhir.FormatInstant(e.now), body)
	res, err := fhir.ParseResource([]byte(b))
	if err != nil {
		e.t.Fatal(err)
	}
	index, err := fhir.ExtractIndexBase(res, confBase)
	if err != nil {
		e.t.Fatal(err)
	}
	op := store.OpUpdate
	if v == 1 {
		op = store.OpCreate
	}
	return store.Write{Op: op, Type: typ, ID: id, Version: v, LastUpdated: e.now, Body: []byte(b), Index: index}
}

func obsOf(patient string) string {
	return `,"status":"final","code":{"text":"x"},"subject":{"reference":"Patient/` + patient + `"}`
}

func TestViewVersions(t *testing.T) {
	e := newViewEnv(t)
	// o1 moves a -> b -> a; o2 is b's and deleted; o3 is a's and deleted.
	e.write("Observation", "o1", 1, obsOf("a"))
	e.write("Observation", "o1", 2, obsOf("b"))
	e.write("Observation", "o1", 3, obsOf("a"))
	e.write("Observation", "o2", 1, obsOf("b"))
	e.write("Observation", "o2", 2, "")
	e.write("Observation", "o3", 1, obsOf("a"))
	e.write("Observation", "o3", 2, "")
	v := e.src.ViewAs(policy.Principal{Scopes: scopes("patient/*.rs"), Patient: "a"})
	ctx := t.Context()

	if _, err := v.VRead(ctx, "Observation", "o1", 2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("b's version of o1: %v", err)
	}
	if _, err := v.VRead(ctx, "Observation", "o1", 1); err != nil {
		t.Errorf("a's version of o1: %v", err)
	}
	if _, err := v.Read(ctx, "Observation", "o2"); !errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrGone) {
		t.Errorf("b's deleted o2: %v, want not found", err)
	}
	if _, err := v.Read(ctx, "Observation", "o3"); !errors.Is(err, store.ErrGone) {
		t.Errorf("a's deleted o3: %v, want gone", err)
	}
	// Instance history in full pages of a's versions: 3, 1 (2 is b's).
	for count, want := range map[int]string{1: "[3][1]", 2: "[3 1]", 5: "[3 1]"} {
		got := ""
		q := store.HistoryQuery{Type: "Observation", ID: "o1", Count: count}
		for {
			page, err := v.History(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var vs []int64
			for _, r := range page.Records {
				vs = append(vs, r.Version)
			}
			got += fmt.Sprint(vs)
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
		}
		if got != want {
			t.Errorf("history of o1 by %d: %s, want %s", count, got, want)
		}
	}
	// b's o2 has no history for a, as it has no read: not found, without a look at its versions.
	page, err := v.History(ctx, store.HistoryQuery{Type: "Observation", ID: "o2", Count: 10})
	if !errors.Is(err, store.ErrNotFound) || len(page.Records) != 0 {
		t.Errorf("history of b's o2: %v %v, want not found", page.Records, err)
	}
	var denied *policy.DeniedError
	if _, err := v.History(ctx, store.HistoryQuery{Type: "Observation", Count: 10}); !errors.As(err, &denied) {
		t.Errorf("type history of a restricted token: %v", err)
	}
}

func TestViewWrites(t *testing.T) {
	triage := policy.Principal{Service: "triage", Scopes: scopes("system/Communication.cu")}
	e := newViewEnv(t, triage)
	e.write("Observation", "oa", 1, obsOf("a"))
	e.write("Observation", "ob", 1, obsOf("b"))
	e.write("Communication", "mb", 1, `,"status":"in-progress","sender":{"reference":"Patient/b"}`)
	ctx := t.Context()
	a := e.src.ViewAs(policy.Principal{Scopes: scopes("patient/*.cruds"), Patient: "a"})
	var denied *policy.DeniedError
	check := func(what string, err error, wantDenied bool) {
		t.Helper()
		if got := errors.As(err, &denied); got != wantDenied {
			t.Errorf("%s: %v", what, err)
		}
	}
	check("update own", a.Write(ctx, e.writeOf("Observation", "oa", 2, obsOf("a"))), false)
	check("move own to b", a.Write(ctx, e.writeOf("Observation", "oa", 3, obsOf("b"))), true)
	check("take b's", a.Write(ctx, e.writeOf("Observation", "ob", 2, obsOf("a"))), true)
	check("delete b's", a.Write(ctx, store.Write{Op: store.OpDelete, Type: "Observation", ID: "ob", Version: 2, LastUpdated: e.now}), true)
	asCreate := e.writeOf("Observation", "new", 1, obsOf("a"))
	asCreate.Op = store.OpUpdate
	check("update as create", a.Write(ctx, asCreate), true)
	create := e.writeOf("Observation", "new", 1, obsOf("a"))
	create.Op = store.OpCreate
	check("create own", a.Write(ctx, create), false)
	// A conditional create's criteria are confined: b's Observation is no match.
	cond := e.writeOf("Observation", "new2", 1, obsOf("a"))
	cond.Op = store.OpCreate
	cond.IfNoneExist = &store.Query{Types: []string{"Observation"}, Count: 2,
		Where: []store.Clause{{Param: "_id", Kind: store.KindToken, Values: []store.Value{{Code: "ob"}}}}}
	check("conditional create", a.Write(ctx, cond), false)

	// The triage service may create; it may change only what the caller can read.
	reply := e.writeOf("Communication", "r1", 1, `,"status":"completed","sender":{"reference":"Organization/o"},"recipient":[{"reference":"Patient/a"}]`)
	reply.Op, reply.Service = store.OpCreate, "triage"
	own := e.writeOf("Communication", "ma", 1, `,"status":"completed","sender":{"reference":"Patient/a"}`)
	own.Op = store.OpCreate
	check("client write with a service reply", a.Write(ctx, own, reply), false)
	complete := e.writeOf("Communication", "mb", 2, `,"status":"completed","sender":{"reference":"Patient/b"}`)
	complete.Service = "triage"
	answer := e.writeOf("Communication", "ans", 1, `,"status":"completed","sender":{"reference":"Patient/a"}`)
	answer.Op = store.OpCreate
	check("the service completing b's message for a", a.Write(ctx, answer, complete), true)
	if err := a.Write(ctx, store.Write{Op: store.OpCreate, Type: "Communication", ID: "x", Version: 1, Service: "nobody"}); err == nil {
		t.Error("a write by an unknown service")
	}
}

// TestViewPurge: a purge through a view needs unrestricted delete on the type; a patient may
// not erase even their own resource's history.
func TestViewPurge(t *testing.T) {
	e := newViewEnv(t)
	e.write("Observation", "oa", 1, obsOf("a"))
	e.write("Observation", "ob", 1, obsOf("b"))
	ctx := t.Context()
	var denied *policy.DeniedError
	a := e.src.ViewAs(policy.Principal{Scopes: scopes("patient/*.cruds"), Patient: "a"})
	if err := a.Purge(ctx, "Observation", "oa"); !errors.As(err, &denied) {
		t.Errorf("a patient purged their Observation: %v", err)
	}
	admin := e.src.ViewAs(policy.Principal{Scopes: scopes("system/*.cruds")})
	if err := admin.Purge(ctx, "Observation", "ob"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.VRead(ctx, "Observation", "ob", 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after purge: %v", err)
	}
	if _, err := e.st.Read(ctx, "Observation", "oa"); err != nil {
		t.Errorf("the refused purge removed oa: %v", err)
	}
}

// A large version's index entries are remembered (indexcache.go), and never answer for other
// bytes: a purged resource created again under the same id and version number is checked
// anew.
func TestLargeVersionsRemembered(t *testing.T) {
	e := newViewEnv(t)
	large := func(patient string) string {
		return obsOf(patient) + `,"note":[{"text":"` + strings.Repeat("lorem ipsum ", 8000) + `"}]`
	}
	ctx := t.Context()
	a := e.src.ViewAs(policy.Principal{Scopes: scopes("patient/*.rs"), Patient: "a"})
	b := e.src.ViewAs(policy.Principal{Scopes: scopes("patient/*.rs"), Patient: "b"})
	e.write("Observation", "big", 1, large("a"))
	e.write("Observation", "small", 1, obsOf("a"))
	for range 2 {
		if _, err := a.VRead(ctx, "Observation", "big", 1); err != nil {
			t.Fatalf("a reads its large Observation: %v", err)
		}
		if _, err := b.VRead(ctx, "Observation", "big", 1); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("b reads a's large Observation: %v", err)
		}
		if _, err := a.VRead(ctx, "Observation", "small", 1); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.src.CachedIndexes(); n != 1 {
		t.Errorf("%d versions remembered, want the large one only", n)
	}
	if err := e.st.Purge(ctx, "Observation", "big"); err != nil {
		t.Fatal(err)
	}
	e.write("Observation", "big", 1, large("b"))
	if _, err := a.VRead(ctx, "Observation", "big", 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a reads b's Observation created again under the id of a's purged one: %v", err)
	}
	if _, err := b.VRead(ctx, "Observation", "big", 1); err != nil {
		t.Errorf("b reads its own: %v", err)
	}
}
