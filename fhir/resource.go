package fhir

import (
	"fmt"
	"time"
)

// Resource is a parsed FHIR resource: its JSON tree, kept exactly as the client wrote it
// (member order, number literals, primitive extensions), plus accessors for what the server
// owns (id and meta).
type Resource struct {
	Root Value // Kind == Object, with a "resourceType" member
}

// ParseResource decodes and validates one resource. A *ValidationError explains every problem
// found, each with the FHIRPath of the element concerned.
func ParseResource(data []byte) (*Resource, error) {
	root, err := ParseJSON(data)
	if err != nil {
		return nil, &ValidationError{Issues: []Issue{{Severity: "error", Code: "structure", Diagnostics: err.Error()}}}
	}
	return ResourceFromValue(root)
}

// ResourceFromValue validates a JSON tree as a resource (used after JSON Patch, for example).
func ResourceFromValue(root Value) (*Resource, error) {
	if issues := Validate(&root); len(issues) > 0 {
		return nil, &ValidationError{Issues: issues}
	}
	return &Resource{Root: root}, nil
}

// Type is the resourceType.
func (r *Resource) Type() string { return r.member("resourceType") }

// ID is the logical id, "" when absent.
func (r *Resource) ID() string { return r.member("id") }

func (r *Resource) member(name string) string {
	if v := r.Root.Get(name); v != nil && v.Kind == String {
		return v.Text
	}
	return ""
}

// SetID sets the logical id, right after resourceType when the resource had none.
func (r *Resource) SetID(id string) {
	if v := r.Root.Get("id"); v != nil {
		*v = Str(id)
		return
	}
	r.insertAfter("resourceType", Member{Key: "id", Value: Str(id)})
}

// SetMeta sets meta.versionId and meta.lastUpdated, keeping the rest of meta (profile, tag,
// security, source) as the client wrote it.
func (r *Resource) SetMeta(versionID string, lastUpdated time.Time) {
	meta := r.Root.Get("meta")
	if meta == nil {
		r.insertAfter("id", Member{Key: "meta", Value: Value{Kind: Object}})
		meta = r.Root.Get("meta")
	}
	meta.Delete("_versionId")
	meta.Delete("_lastUpdated")
	meta.Set("versionId", Str(versionID))
	meta.Set("lastUpdated", Str(FormatInstant(lastUpdated)))
}

func (r *Resource) insertAfter(key string, m Member) {
	at := 0
	for i := range r.Root.Obj {
		if r.Root.Obj[i].Key == key {
			at = i + 1
			break
		}
	}
	r.Root.Obj = append(r.Root.Obj, Member{})
	copy(r.Root.Obj[at+1:], r.Root.Obj[at:])
	r.Root.Obj[at] = m
}

// JSON is the compact encoding of the resource.
func (r *Resource) JSON() []byte { return AppendJSON(nil, r.Root) }

// FormatInstant renders t as a FHIR instant in UTC with millisecond precision.
func FormatInstant(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// String is for debugging.
func (r *Resource) String() string { return fmt.Sprintf("%s/%s", r.Type(), r.ID()) }
