package mongo_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-health/portico/internal/mongojava"
	"github.com/portico-health/portico/internal/needtool"

	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/mongo"
	"github.com/portico-health/portico/store/storetest"
)

// The tests run against PORTICO_TEST_MONGODB_URI when it is set (a real MongoDB: every store
// gets its own database, dropped afterwards), else against mongo-java-server, started here from
// the jar that .ci/run builds (tools/mongo-java-server).

const jarPath = "../../" + mongojava.Jar

var (
	testURI     string // the deployment the tests use; "" when none could be had
	unavailable string // why there is none
	javaServer  bool   // testURI is the Java server
)

func TestMain(m *testing.M) {
	stop := setup()
	code := m.Run()
	stop()
	os.Exit(code)
}

func setup() (stop func()) {
	if uri := os.Getenv("PORTICO_TEST_MONGODB_URI"); uri != "" {
		testURI = uri
		return func() {}
	}
	if why := mongojava.Unavailable(jarPath); why != "" {
		unavailable = "no MongoDB: PORTICO_TEST_MONGODB_URI is unset and " + why
		return func() {}
	}
	srv, err := mongojava.Start(jarPath, 0)
	if err != nil {
		unavailable = err.Error()
		return func() {}
	}
	testURI = "mongodb://" + srv.Addr + "/"
	javaServer = true
	return srv.Stop
}

// requireMongo skips the test when no MongoDB could be had, and fails it under CI=true, where
// .ci/run builds the Java server and such a skip is unexpected.
func requireMongo(t *testing.T) {
	t.Helper()
	if testURI != "" {
		return
	}
	needtool.Unavailable(t, unavailable)
}

var dbCounter atomic.Int64

// openStore opens a store on a new database, dropped when the test ends.
func openStore(t *testing.T) *mongo.Store {
	t.Helper()
	name := fmt.Sprintf("portico_test_%d_%d", os.Getpid(), dbCounter.Add(1))
	s, err := mongo.Open(t.Context(), mongo.Config{URI: testURI, Database: name})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		// storetest closes s before this runs (cleanups run last-registered first): reopen
		// to drop the database.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		d, err := mongo.Open(ctx, mongo.Config{URI: testURI, Database: name})
		if err != nil {
			t.Logf("dropping %s: %v", name, err)
			return
		}
		_ = d.DropDatabase(ctx)
		_ = d.Close()
	})
	return s
}

// noTxnStore is the store under test on the Java server: it turns the cases that server cannot
// run in CI time into explained skips.
type noTxnStore struct {
	*mongo.Store
	t *testing.T
}

// javaServerTooSlow names the storetest cases that the Java server cannot run in CI time.
var javaServerTooSlow = map[string]string{
	"TestStore/Search/PagingUnderInserts": "mongo-java-server evaluates every query by scanning all documents (it uses no " +
		"secondary index), so paging 10,000 matches while another goroutine inserts as fast as it can does not " +
		"converge: each page costs time proportional to the growing collection. Runs against a real MongoDB " +
		"(PORTICO_TEST_MONGODB_URI), whose indexes serve it",
}

func (s noTxnStore) Write(ctx context.Context, writes ...store.Write) error {
	if why, ok := javaServerTooSlow[s.t.Name()]; ok && javaServer {
		s.t.Skip(why)
	}
	return s.Store.Write(ctx, writes...)
}

func TestStore(t *testing.T) {
	requireMongo(t)
	storetest.RunTests(t, func(t *testing.T) store.Store {
		s := openStore(t)
		if !s.Transactions() || javaServer {
			return noTxnStore{s, t}
		}
		return s
	})
}

// TestDeploymentKind checks the transaction detection: the Java server is a standalone server.
func TestDeploymentKind(t *testing.T) {
	requireMongo(t)
	s := openStore(t)
	defer s.Close()
	if javaServer && s.Transactions() {
		t.Error("mongo-java-server detected as supporting transactions")
	}
	t.Logf("transactions: %v", s.Transactions())
}

// TestTooLarge checks that a body that cannot fit a 16 MiB document is refused before the driver.
func TestTooLarge(t *testing.T) {
	requireMongo(t)
	s := openStore(t)
	defer s.Close()
	body := []byte(`{"resourceType":"Binary","data":"` + strings.Repeat("A", 17<<20) + `"}`)
	err := s.Write(t.Context(), store.Write{Op: store.OpCreate, Type: "Binary", ID: "big", Version: 1,
		LastUpdated: time.Now(), Body: body})
	if err == nil || !errorsIs(err, store.ErrTooLarge) {
		t.Fatalf("err %v, want ErrTooLarge", err)
	}
}

// TestUnreachable checks that a server that does not answer is ErrUnavailable at Open.
func TestUnreachable(t *testing.T) {
	_, err := mongo.Open(t.Context(), mongo.Config{URI: "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300",
		ConnectTimeout: 2 * time.Second})
	if !errorsIs(err, store.ErrUnavailable) {
		t.Fatalf("err %v, want ErrUnavailable", err)
	}
}

func errorsIs(err, target error) bool {
	for err != nil {
		if err == target {
			return true
		}
		if u, ok := err.(interface{ Unwrap() error }); ok {
			err = u.Unwrap()
			continue
		}
		return strings.Contains(err.Error(), target.Error())
	}
	return false
}

// TestCheckWrite: the write check commits one document of its own, again and again, and
// changes no resource and no history.
func TestCheckWrite(t *testing.T) {
	requireMongo(t)
	s := openStore(t)
	defer s.Close()
	w := store.Write{Op: store.OpCreate, Type: "Patient", ID: "p", Version: 1, LastUpdated: time.Now(), Body: []byte(`{}`)}
	if err := s.Write(t.Context(), w); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := s.CheckWrite(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	page, err := s.History(t.Context(), store.HistoryQuery{Count: 10})
	if err != nil || len(page.Records) != 1 {
		t.Errorf("system history after the checks: %v, %d entries, want 1", err, len(page.Records))
	}
	n, err := s.CountWriteChecks(t.Context())
	if err != nil || n != 1 {
		t.Errorf("write_check documents: %d, %v; want 1", n, err)
	}
}

// TestSearchesTakeSlots: client searches and history pages wait for a slot of the lanes
// (store/lanes: the same scheduling as on SQLite), the server's own searches do not.
func TestSearchesTakeSlots(t *testing.T) {
	requireMongo(t)
	s := openStore(t)
	ctx := t.Context()
	body := []byte(`{"resourceType":"Patient","id":"p1","meta":{"versionId":"1","lastUpdated":"2026-01-01T00:00:00Z"}}`)
	if err := s.Write(ctx, store.Write{Op: store.OpCreate, Type: "Patient", ID: "p1", Version: 1,
		LastUpdated: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Body: body}); err != nil {
		t.Fatal(err)
	}
	q := store.Query{Types: []string{"Patient"}}
	release := s.HoldSearchSlots(mongo.DefaultSearchSlots(), mongo.DefaultSearchSlots())
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := s.Search(short, q); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a client search with every slot held: %v, want it to wait until its deadline", err)
	}
	if _, err := s.History(short, store.HistoryQuery{Type: "Patient"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a history page with every slot held: %v, want it to wait until its deadline", err)
	}
	if page, err := s.Search(store.Internal(ctx), q); err != nil || len(page.Records) != 1 {
		t.Errorf("the server's own search with every client slot held: %d, %v", len(page.Records), err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Search(ctx, q)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	release()
	if err := <-done; err != nil {
		t.Errorf("the waiting search once slots are free: %v", err)
	}
}
