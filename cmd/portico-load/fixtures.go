package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/portico-health/portico/fhir"
)

// fixtures are the bodies of the load: the repository's realistic Observation and Patient
// examples, compact, without id and meta (as a client sends a create), varied per resource by
// replacing a few values of the example.
type fixtures struct {
	obs, pat, com []byte
}

// The values of the examples that vary per generated resource.
const (
	obsSubject    = `"Patient/pat-maria-alvarez"`
	obsIdentifier = `"LAB-7731-0042"`
	obsValue      = `"value":1.50,`
	obsEffective  = `"2024-05-02T08:05:00-05:00"`
	obsCode       = `2160-0` // the LOINC code in Observation.code
	patMRN        = `00482913`
	patBirthDate  = `"1984-03-17"`
)

func loadFixtures(repo string) (*fixtures, error) {
	obs, err := clientBody(filepath.Join(repo, "testdata", "resources", "observation-lab.json"))
	if err != nil {
		return nil, err
	}
	pat, err := clientBody(filepath.Join(repo, "testdata", "resources", "patient-full.json"))
	if err != nil {
		return nil, err
	}
	com, err := clientBody(filepath.Join(repo, "testdata", "resources", "communication-portal-message.json"))
	if err != nil {
		return nil, err
	}
	for _, m := range []struct {
		body []byte
		want string
	}{{obs, obsSubject}, {obs, obsIdentifier}, {obs, obsValue}, {obs, obsEffective}, {obs, `"code":"` + obsCode + `"`},
		{pat, patMRN}, {pat, patBirthDate},
		{com, comStatus}, {com, comPriority}, {com, comSent}, {com, comRecipient}, {com, comPatient}} {
		if !bytes.Contains(m.body, []byte(m.want)) {
			return nil, fmt.Errorf("fixtures: the example no longer contains %s; update cmd/portico-load/fixtures.go", m.want)
		}
	}
	return &fixtures{obs: obs, pat: pat, com: com}, nil
}

// clientBody reads an example and returns it compact, without id and meta.
func clientBody(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("fixtures: %w (is --repo the repository root?)", err)
	}
	root, err := fhir.ParseJSON(data)
	if err != nil {
		return nil, fmt.Errorf("fixtures: %s: %w", path, err)
	}
	root.Delete("id")
	root.Delete("meta")
	return fhir.AppendJSON(nil, root), nil
}

// observation is the n-th generated Observation, about patient patID.
func (f *fixtures) observation(patID string, n int) []byte {
	return f.observationAt(patID, n, fmt.Sprintf("20%02d-%02d-%02dT08:05:00-05:00", 15+n%10, 1+n%12, 1+n%28))
}

// observationAt is the n-th generated Observation, about patient patID, effective (and
// collected) at the dateTime effective.
func (f *fixtures) observationAt(patID string, n int, effective string) []byte {
	b := bytes.Replace(f.obs, []byte(obsSubject), []byte(strconv.Quote("Patient/"+patID)), 1)
	b = bytes.Replace(b, []byte(obsIdentifier), []byte(fmt.Sprintf(`"LAB-%08d"`, n)), 1)
	b = bytes.Replace(b, []byte(obsValue), []byte(fmt.Sprintf(`"value":%d.%02d,`, n%3, n%100)), 1)
	return bytes.ReplaceAll(b, []byte(obsEffective), []byte(strconv.Quote(effective)))
}

// patient is the n-th generated Patient.
func (f *fixtures) patient(n int) []byte {
	b := bytes.ReplaceAll(f.pat, []byte(patMRN), []byte(fmt.Sprintf("%08d", 10_000_000+n)))
	birth := fmt.Sprintf(`"19%02d-%02d-%02d"`, 30+n%70, 1+n%12, 1+n%28)
	return bytes.Replace(b, []byte(patBirthDate), []byte(birth), 1)
}

// withID returns body (which starts with its resourceType member) with "id" set right after
// resourceType, as a client sends an update.
func withID(body []byte, id string) ([]byte, error) {
	i := bytes.IndexByte(body, ',')
	if !bytes.HasPrefix(body, []byte(`{"resourceType":`)) || i < 0 {
		return nil, errors.New("fixtures: a body must start with its resourceType")
	}
	out := make([]byte, 0, len(body)+len(id)+8)
	out = append(out, body[:i+1]...)
	out = append(out, `"id":`...)
	out = strconv.AppendQuote(out, id)
	out = append(out, ',')
	return append(out, body[i+1:]...), nil
}
