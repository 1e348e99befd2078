package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/portico-health/portico/store"
)

// testSearchPaging pages through 25 matches with several page sizes: every match comes back
// exactly once, in (Type, ID) order, and Total is counted only when asked.
func testSearchPaging(t *testing.T, s *handle) {
	var want []string
	for i := range 25 {
		id := fmt.Sprintf("q%02d", i)
		index := []store.IndexEntry{tok("identifier", "urn:page", "x")}
		if i%3 == 0 { // matches both values of the OR: must still come back once
			index = append(index, tok("identifier", "urn:page", "y"))
		}
		mustWrite(t, s, create("Patient", id, at(i), index...))
		want = append(want, key("Patient", id, 1))
	}
	mustWrite(t, s, create("Patient", "q99", at(1), tok("identifier", "urn:page", "x"))) // deleted below
	mustWrite(t, s, create("Group", "g", at(1), tok("identifier", "urn:page", "x")))     // another type
	mustWrite(t, s, del("Patient", "q99", 2, at(2)))

	where := []store.Clause{tokens("identifier", sysCode("urn:page", "x"), sysCode("urn:page", "y"))}
	for _, count := range []int{1, 4, 7, 25, 100} {
		for _, total := range []bool{false, true} {
			name := fmt.Sprintf("Count=%d Total=%v", count, total)
			got := searchPages(t, s, store.Query{Types: []string{"Patient"}, Where: where, Count: count, Total: total},
				func(p store.Page) {
					wantTotal := -1
					if total {
						wantTotal = len(want)
					}
					if p.Total != wantTotal {
						t.Errorf("%s: Total %d, want %d", name, p.Total, wantTotal)
					}
					if len(p.Records) > count {
						t.Errorf("%s: page of %d records", name, len(p.Records))
					}
				})
			equalKeys(t, name, got, want)
		}
	}

	_, err := s.Search(t.Context(), store.Query{Types: []string{"Patient"}, Where: where, Count: 5, Cursor: "not a cursor!"})
	if !errors.Is(err, store.ErrInvalidCursor) {
		t.Errorf("Search with a damaged cursor: err %v, want ErrInvalidCursor", err)
	}
}

// searchPages follows Next from q's first page to the last and returns the keys of every
// record, calling check on each page. It fails the test on a page that cannot end.
func searchPages(t *testing.T, s store.Store, q store.Query, check func(store.Page)) []string {
	t.Helper()
	var got []string
	for range 1000 {
		page, err := s.Search(t.Context(), q)
		if err != nil {
			t.Fatalf("Search(cursor %q): %v", q.Cursor, err)
		}
		check(page)
		got = append(got, keys(page.Records)...)
		if page.Next == "" {
			return got
		}
		if page.Next == q.Cursor {
			t.Fatalf("Search returned its own cursor %q as Next", q.Cursor)
		}
		q.Cursor = page.Next
	}
	t.Fatal("Search paging did not end after 1000 pages")
	return nil
}

// historyPages is searchPages for History.
func historyPages(t *testing.T, s store.Store, q store.HistoryQuery) []string {
	t.Helper()
	var got []string
	for range 1000 {
		page, err := s.History(t.Context(), q)
		if err != nil {
			t.Fatalf("History(%+v): %v", q, err)
		}
		if len(page.Records) > q.Count {
			t.Errorf("History returned %d records for Count %d", len(page.Records), q.Count)
		}
		if page.Total != -1 {
			t.Errorf("History Total %d, want -1", page.Total)
		}
		got = append(got, keys(page.Records)...)
		if page.Next == "" {
			return got
		}
		q.Cursor = page.Next
	}
	t.Fatal("History paging did not end after 1000 pages")
	return nil
}

// testSearchPagingByBytes: Query.MaxBytes ends a page early with a next cursor, after one
// record at least, and the pages together hold every match once, in order.
func testSearchPagingByBytes(t *testing.T, s *handle) {
	var want []string
	for i := range 12 {
		id := fmt.Sprintf("b%02d", i)
		mustWrite(t, s, create("Patient", id, at(i), tok("identifier", "urn:bytes", "x")))
		want = append(want, key("Patient", id, 1))
	}
	rec, err := s.Read(t.Context(), "Patient", "b00")
	if err != nil {
		t.Fatal(err)
	}
	size := len(rec.Body)
	where := []store.Clause{tokens("identifier", sysCode("urn:bytes", "x"))}
	for _, tc := range []struct {
		name     string
		maxBytes int
		most     int // records a page may hold
	}{
		{"three bodies", 3 * size, 3},
		{"less than one body", size / 2, 1},
	} {
		for _, sort := range [][]store.Sort{nil, {{Param: "_lastUpdated", Desc: true}}} {
			name := fmt.Sprintf("%s, sort %v", tc.name, sort)
			pages := 0
			got := searchPages(t, s, store.Query{Types: []string{"Patient"}, Where: where, Sort: sort, Count: 100, MaxBytes: tc.maxBytes},
				func(p store.Page) {
					pages++
					if len(p.Records) == 0 || len(p.Records) > tc.most {
						t.Errorf("%s: a page of %d records", name, len(p.Records))
					}
				})
			w := want
			if sort != nil {
				w = slices.Clone(want)
				slices.Reverse(w)
			}
			equalKeys(t, name, got, w)
			if pages < len(want)/tc.most {
				t.Errorf("%s: %d pages", name, pages)
			}
		}
	}
}
