package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// The input files are FHIR Bundles; only the members the generator reads are declared, so that
// decoding stays quick and unrelated additions to the definitions cannot break it.

type bundle struct {
	Entry []struct {
		Resource json.RawMessage `json:"resource"`
	} `json:"entry"`
}

type resourceHeader struct {
	ResourceType string `json:"resourceType"`
	FHIRVersion  string `json:"fhirVersion"`
	Version      string `json:"version"`
}

type structureDefinition struct {
	ID          string `json:"id"`
	URL         string `json:"url"`
	Name        string `json:"name"`
	Kind        string `json:"kind"` // primitive-type | complex-type | resource | logical
	Abstract    bool   `json:"abstract"`
	Type        string `json:"type"`
	Derivation  string `json:"derivation"` // specialization | constraint
	BaseDef     string `json:"baseDefinition"`
	FHIRVersion string `json:"fhirVersion"`
	Snapshot    struct {
		Element []elementDefinition `json:"element"`
	} `json:"snapshot"`
}

type elementDefinition struct {
	ID               string                `json:"id"`
	Path             string                `json:"path"`
	Short            string                `json:"short"`
	Min              int                   `json:"min"`
	Max              string                `json:"max"`
	Base             struct{ Path string } `json:"base"`
	Type             []typeRef             `json:"type"`
	ContentReference string                `json:"contentReference"`
	IsSummary        bool                  `json:"isSummary"`
	IsModifier       bool                  `json:"isModifier"`
	Binding          *binding              `json:"binding"`
}

type typeRef struct {
	Code          string      `json:"code"`
	Profile       []string    `json:"profile"`
	TargetProfile []string    `json:"targetProfile"`
	Extension     []extension `json:"extension"`
}

type extension struct {
	URL         string `json:"url"`
	ValueURL    string `json:"valueUrl"`
	ValueString string `json:"valueString"`
}

type binding struct {
	Strength string `json:"strength"`
	ValueSet string `json:"valueSet"`
}

type valueSet struct {
	URL     string `json:"url"`
	Name    string `json:"name"`
	Compose struct {
		Include []vsInclude `json:"include"`
		Exclude []vsInclude `json:"exclude"`
	} `json:"compose"`
}

type vsInclude struct {
	System   string   `json:"system"`
	ValueSet []string `json:"valueSet"`
	Concept  []struct {
		Code    string `json:"code"`
		Display string `json:"display"`
	} `json:"concept"`
	Filter []struct {
		Property string `json:"property"`
		Op       string `json:"op"`
		Value    string `json:"value"`
	} `json:"filter"`
}

type codeSystem struct {
	URL     string    `json:"url"`
	Content string    `json:"content"`
	Concept []concept `json:"concept"`
}

type concept struct {
	Code    string    `json:"code"`
	Display string    `json:"display"`
	Concept []concept `json:"concept"`
}

type searchParameter struct {
	ID          string   `json:"id"`
	URL         string   `json:"url"`
	Version     string   `json:"version"`
	Code        string   `json:"code"`
	Base        []string `json:"base"`
	Type        string   `json:"type"`
	Expression  string   `json:"expression"`
	Target      []string `json:"target"`
	Description string   `json:"description"`
	Component   []struct {
		Definition string `json:"definition"`
		Expression string `json:"expression"`
	} `json:"component"`
}

type compartmentDefinition struct {
	Code     string `json:"code"`
	Resource []struct {
		Code  string   `json:"code"`
		Param []string `json:"param"`
	} `json:"resource"`
}

// fhirVersion is the only release the generator accepts. The files in ../shared/fhir-r4 come from
// a distribution that also carries a few later-release definitions (an R4B SubscriptionStatus
// resource, an R5 search parameter); those are left out so that the model is exactly R4.
const fhirVersion = "4.0.1"

// definitions is everything the generator reads.
type definitions struct {
	structures   []*structureDefinition // R4 only, every kind
	valueSets    map[string]*valueSet   // by url
	codeSystems  map[string]*codeSystem // by url
	searchParams []*searchParameter     // R4 only
	compartment  *compartmentDefinition // the Patient compartment
}

func load(dir string) (*definitions, error) {
	d := &definitions{valueSets: map[string]*valueSet{}, codeSystems: map[string]*codeSystem{}}
	for _, name := range []string{"profiles-types.json", "profiles-resources.json"} {
		err := eachResource(filepath.Join(dir, name), func(h resourceHeader, raw json.RawMessage) error {
			if h.ResourceType != "StructureDefinition" || h.FHIRVersion != fhirVersion {
				return nil
			}
			sd := new(structureDefinition)
			d.structures = append(d.structures, sd)
			return json.Unmarshal(raw, sd)
		})
		if err != nil {
			return nil, err
		}
	}
	for _, name := range []string{"valuesets.json", "v3-codesystems.json"} {
		err := eachResource(filepath.Join(dir, name), func(h resourceHeader, raw json.RawMessage) error {
			switch h.ResourceType {
			case "ValueSet":
				vs := new(valueSet)
				if err := json.Unmarshal(raw, vs); err != nil {
					return err
				}
				if _, dup := d.valueSets[vs.URL]; !dup { // valuesets.json wins over the v3 file
					d.valueSets[vs.URL] = vs
				}
			case "CodeSystem":
				cs := new(codeSystem)
				if err := json.Unmarshal(raw, cs); err != nil {
					return err
				}
				if _, dup := d.codeSystems[cs.URL]; !dup {
					d.codeSystems[cs.URL] = cs
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	err := eachResource(filepath.Join(dir, "search-parameters.json"), func(h resourceHeader, raw json.RawMessage) error {
		if h.ResourceType != "SearchParameter" || h.Version != fhirVersion {
			return nil
		}
		sp := new(searchParameter)
		d.searchParams = append(d.searchParams, sp)
		return json.Unmarshal(raw, sp)
	})
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, "compartmentdefinition-patient.json"))
	if err != nil {
		return nil, err
	}
	d.compartment = new(compartmentDefinition)
	if err := json.Unmarshal(data, d.compartment); err != nil {
		return nil, fmt.Errorf("compartmentdefinition-patient.json: %w", err)
	}
	return d, nil
}

// eachResource calls fn for every entry of the Bundle in file.
func eachResource(file string, fn func(resourceHeader, json.RawMessage) error) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var b bundle
	if err := json.Unmarshal(data, &b); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(file), err)
	}
	for i, e := range b.Entry {
		var h resourceHeader
		if err := json.Unmarshal(e.Resource, &h); err != nil {
			return fmt.Errorf("%s entry %d: %w", filepath.Base(file), i, err)
		}
		if err := fn(h, e.Resource); err != nil {
			return fmt.Errorf("%s entry %d: %w", filepath.Base(file), i, err)
		}
	}
	return nil
}
