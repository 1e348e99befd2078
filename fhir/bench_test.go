package fhir

import "testing"

// BenchmarkParseResource measures what a write costs in this package: strict parsing plus
// validation of a realistic resource.
func BenchmarkParseResource(b *testing.B) {
	fixtures := readFixtures(b)
	for _, name := range []string{"observation-lab.json", "patient-full.json"} {
		data := fixtures[name]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseResource(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkValidate isolates the validator from parsing.
func BenchmarkValidate(b *testing.B) {
	fixtures := readFixtures(b)
	for _, name := range []string{"observation-lab.json", "patient-full.json"} {
		root, err := ParseJSON(fixtures[name])
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if issues := Validate(&root); issues != nil {
					b.Fatal(issues)
				}
			}
		})
	}
}
