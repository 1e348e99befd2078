package mongo_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/portico-health/portico/store"
	"github.com/portico-health/portico/store/mongo"
)

// TestMissionSearchesUseIndexes checks, on a real mongod, that the searches a patient app
// sends most (Observation patient+code sorted by -date; the Communication worklist,
// recipient+status sorted by priority,sent) are served by an index scan, never a collection
// scan. It runs them through Store.Search with the database profiler on and reads the plan
// summary mongod recorded for the exact command the store sent, so the check follows whatever
// filter the store compiles.
//
// Only a real mongod has a query planner and a profiler: on mongo-java-server (which scans
// every document) or without PORTICO_TEST_MONGODB_URI the test is skipped, also under CI=true,
// since CI has no mongod to run it on (a capability skip, like the transaction tests).
func TestMissionSearchesUseIndexes(t *testing.T) {
	if os.Getenv("PORTICO_TEST_MONGODB_URI") == "" || javaServer {
		t.Skip("needs a real mongod (PORTICO_TEST_MONGODB_URI): mongo-java-server has no query planner, explain or profiler")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	name := fmt.Sprintf("portico_explain_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6)
	s, err := mongo.Open(ctx, mongo.Config{URI: testURI, Database: name})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	client, err := driver.Connect(options.Client().ApplyURI(testURI))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	db := client.Database(name)
	defer func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = db.RunCommand(c, bson.D{{Key: "profile", Value: 0}}).Err()
		_ = db.Drop(c)
	}()

	seedMission(t, ctx, s)

	if err := db.RunCommand(ctx, bson.D{{Key: "profile", Value: 0}}).Err(); err != nil {
		t.Skipf("the database profiler is not available on this deployment (%v), so plans cannot be read", err)
	}
	ref := func(param, id string) store.Clause {
		return store.Clause{Param: param, Kind: store.KindReference, Values: []store.Value{{RefType: "Patient", RefID: id}}}
	}
	tok := func(param, code string) store.Clause {
		return store.Clause{Param: param, Kind: store.KindToken, Values: []store.Value{{Code: code, AnySystem: true}}}
	}
	searches := []struct {
		name string
		q    store.Query
		want int // results on seedMission's data
	}{
		{"Observation?patient=p7&code=c1&_sort=-date", store.Query{Types: []string{"Observation"}, Count: 20,
			Sort:  []store.Sort{{Param: "date", Desc: true}},
			Where: []store.Clause{ref("patient", "p7"), tok("code", "c1")}}, 5},
		{"Communication?recipient=p7&status=in-progress&_sort=priority,sent", store.Query{Types: []string{"Communication"}, Count: 20,
			Sort:  []store.Sort{{Param: "priority"}, {Param: "sent"}},
			Where: []store.Clause{ref("recipient", "p7"), tok("status", "in-progress")}}, 2},
	}
	for _, sc := range searches {
		t.Run(sc.name, func(t *testing.T) {
			// A fresh profile per search (it can only be dropped while profiling is off).
			for _, cmd := range []bson.D{{{Key: "profile", Value: 0}}, {{Key: "drop", Value: "system.profile"}}, {{Key: "profile", Value: 2}}} {
				if err := db.RunCommand(ctx, cmd).Err(); err != nil && cmd[0].Key != "drop" { // drop: there may be no profile yet
					t.Fatalf("%v: %v", cmd, err)
				}
			}
			page, err := s.Search(ctx, sc.q)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Records) != sc.want {
				t.Errorf("%d results, want %d", len(page.Records), sc.want)
			}
			if err := db.RunCommand(ctx, bson.D{{Key: "profile", Value: 0}}).Err(); err != nil {
				t.Fatal(err)
			}
			plans := profiledPlans(t, ctx, db)
			if len(plans) == 0 {
				t.Fatal("the profiler recorded no command on the resources collection")
			}
			for _, p := range plans {
				if strings.Contains(p, "COLLSCAN") || !strings.Contains(p, "IXSCAN") {
					t.Errorf("plan %q: want an index scan (IXSCAN), no collection scan", p)
				}
			}
			t.Logf("plans: %v", plans)
		})
	}
}

// profiledPlans returns the plan summaries of the find and aggregate commands the profiler
// recorded on the resources collection.
func profiledPlans(t *testing.T, ctx context.Context, db *driver.Database) []string {
	t.Helper()
	c, err := db.Collection("system.profile").Find(ctx, bson.D{
		{Key: "ns", Value: db.Name() + ".resources"},
		{Key: "$or", Value: bson.A{
			bson.D{{Key: "command.aggregate", Value: "resources"}},
			bson.D{{Key: "command.find", Value: "resources"}},
		}},
	}, options.Find().SetSort(bson.D{{Key: "ts", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	var docs []struct {
		PlanSummary string `bson:"planSummary"`
	}
	if err := c.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	var plans []string
	for _, d := range docs {
		plans = append(plans, d.PlanSummary)
	}
	return plans
}

// seedMission writes 3,000 Observations and 1,200 Communications of 300 patients, with the
// index entries the api extracts for the searched parameters.
func seedMission(t *testing.T, ctx context.Context, s *mongo.Store) {
	t.Helper()
	lu := time.Now()
	write := func(typ, id string, index ...store.IndexEntry) {
		w := store.Write{Op: store.OpCreate, Type: typ, ID: id, Version: 1, LastUpdated: lu, Body: []byte(`{}`), Index: index}
		if err := s.Write(ctx, w); err != nil {
			t.Fatalf("Write %s/%s: %v", typ, id, err)
		}
	}
	for i := range 3000 {
		p := fmt.Sprintf("p%d", i%300)
		write("Observation", fmt.Sprintf("o%d", i),
			store.IndexEntry{Param: "patient", Kind: store.KindReference, RefType: "Patient", RefID: p},
			store.IndexEntry{Param: "subject", Kind: store.KindReference, RefType: "Patient", RefID: p},
			store.IndexEntry{Param: "code", Kind: store.KindToken, System: "http://loinc.org", Code: fmt.Sprintf("c%d", (i/300)%2)},
			store.IndexEntry{Param: "date", Kind: store.KindDate, Low: float64(i), High: float64(i + 1), SortKey: fmt.Sprintf("%08d", i)})
	}
	for i := range 1200 {
		p := fmt.Sprintf("p%d", i%300)
		write("Communication", fmt.Sprintf("m%d", i),
			store.IndexEntry{Param: "recipient", Kind: store.KindReference, RefType: "Patient", RefID: p},
			store.IndexEntry{Param: "status", Kind: store.KindToken, System: "http://hl7.org/fhir/event-status",
				Code: []string{"in-progress", "completed"}[(i/300)%2]},
			store.IndexEntry{Param: "priority", Kind: store.KindToken, System: "http://hl7.org/fhir/request-priority",
				Code: "routine", SortKey: fmt.Sprint(i % 4)},
			store.IndexEntry{Param: "sent", Kind: store.KindDate, Low: float64(i), High: float64(i + 1), SortKey: fmt.Sprintf("%08d", i)})
	}
}
