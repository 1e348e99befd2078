package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestSearchLimits: a search past a documented limit is 400 too-costly before it runs; the
// most a search may ask within the limits runs (never a 500).
func TestSearchLimits(t *testing.T) {
	s := newServer(t)
	vals := func(n int) string {
		v := make([]string, n)
		for i := range v {
			v[i] = fmt.Sprint(i)
		}
		return strings.Join(v, ",")
	}
	repeat := func(n int, param string) string {
		q := make([]string, n)
		for i := range q {
			q[i] = param
		}
		return strings.Join(q, "&")
	}
	for _, path := range []string{
		"/Observation?code=" + vals(101),
		"/Observation?" + repeat(65, "code=1"),
		"/Observation?" + repeat(33, "subject:Patient.name=x"), // two criteria each
		"/Observation?code=" + vals(100) + "&category=" + vals(100) + "&subject=" + vals(100) + "&_id=" + vals(100) + "&status=x",
		"/Observation?code:text=" + strings.Repeat("a", 1025),
		"/Observation?_sort=date,code,date,code,date,code,date,code,date",
		"/Observation?" + repeat(17, "_include=Observation:subject"),
		"/Observation?subject:Patient.link:Patient.link:Patient.link:Patient.link:Patient.name=x",
	} {
		wantOutcome(t, s.do(http.MethodGet, path, ""), http.StatusBadRequest, "too-costly")
	}
	for _, path := range []string{
		"/Observation?code=" + vals(100) + "&category=" + vals(100) + "&subject=" + vals(100) + "&_id=" + vals(100),
		"/Observation?" + repeat(64, "code="+vals(6)),
		"/Observation?" + repeat(32, "subject:Patient.name="+vals(6)),
		"/Patient?" + repeat(32, "_has:Observation:subject:code="+vals(6)),
		"/Observation?" + repeat(16, "_include:iterate=Observation:subject") + "&_sort=-date,code,status",
		"/?_type=Observation,Patient,Condition&_id=" + vals(100) + "&_summary=count",
	} {
		wantStatus(t, s.do(http.MethodGet, path, ""), http.StatusOK)
	}
}
