package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// specDoc.validate checks a served body against a schema of the OpenAPI
// document, strictly, so that TestOpenAPISchemasMatchServed proves the
// document describes what the server sends: no undeclared field, every
// required one present, the declared types, nullable, enum, date-time,
// minItems and maxItems, following $ref, allOf and oneOf. It implements
// the part of OpenAPI 3.0 schemas the document uses, no more.

// specDoc is the served OpenAPI document decoded as plain JSON (numbers
// as json.Number), for validating bodies against its schemas.
type specDoc struct {
	root map[string]any
}

// decodeJSON decodes b keeping numbers as json.Number, so that integers
// are told from other numbers.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("data after the JSON value")
	}
	return v, nil
}

// ref resolves a local reference ("#/components/schemas/Order").
func (d *specDoc) ref(r string) (map[string]any, error) {
	p, ok := strings.CutPrefix(r, "#/")
	if !ok {
		return nil, fmt.Errorf("non-local $ref %q", r)
	}
	var cur any = d.root
	for _, k := range strings.Split(p, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q: no %q", r, k)
		}
		if cur, ok = m[k]; !ok {
			return nil, fmt.Errorf("$ref %q: no %q", r, k)
		}
	}
	s, ok := cur.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("$ref %q is not a schema", r)
	}
	return s, nil
}

// flatten returns s with its $ref followed and its allOf merged into
// one schema: the union of the parts' properties and required fields,
// open to more fields if a part is.
func (d *specDoc) flatten(s map[string]any) (map[string]any, error) {
	for depth := 0; s["$ref"] != nil; depth++ {
		r, _ := s["$ref"].(string)
		var err error
		if s, err = d.ref(r); err != nil || depth > 32 {
			return nil, fmt.Errorf("$ref %q: %v", r, err)
		}
	}
	parts, ok := s["allOf"].([]any)
	if !ok {
		return s, nil
	}
	props, req := map[string]any{}, []any{}
	out := map[string]any{"type": "object", "properties": props}
	for k, v := range s {
		if k != "allOf" {
			out[k] = v
		}
	}
	for _, p := range parts {
		ps, ok := p.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("allOf part %v is not a schema", p)
		}
		ps, err := d.flatten(ps)
		if err != nil {
			return nil, err
		}
		if t, ok := ps["type"]; ok && t != "object" {
			return nil, fmt.Errorf("allOf part of type %v", t)
		}
		for k, v := range ps["properties"].(map[string]any) {
			props[k] = v
		}
		r, _ := ps["required"].([]any)
		req = append(req, r...)
		if ps["additionalProperties"] != nil && ps["additionalProperties"] != false {
			out["additionalProperties"] = ps["additionalProperties"]
		}
	}
	out["required"] = req
	return out, nil
}

// validate appends to errs each way v breaks schema s, naming where in
// the body. An object may have only the fields its schema declares
// (unless additionalProperties allows more); a schema must give a type
// (or an enum, $ref, allOf or oneOf): a schema that accepts anything
// proves nothing.
func (d *specDoc) validate(where string, s map[string]any, v any, errs *[]string) {
	fail := func(format string, args ...any) {
		*errs = append(*errs, where+": "+fmt.Sprintf(format, args...))
	}
	s, err := d.flatten(s)
	if err != nil {
		fail("%v", err)
		return
	}
	if v == nil {
		if s["nullable"] != true {
			fail("null, the schema is not nullable")
		}
		return
	}
	if alts, ok := s["oneOf"].([]any); ok {
		var matched []int
		var why []string
		for i, a := range alts {
			var e []string
			d.validate(where, a.(map[string]any), v, &e)
			if len(e) == 0 {
				matched = append(matched, i)
			}
			why = append(why, e...)
		}
		if len(matched) != 1 {
			fail("matches %d of the %d oneOf schemas (%v), not 1: %s", len(matched), len(alts), matched, strings.Join(why, "; "))
		}
		return
	}
	if enum, ok := s["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
		fail("%v is not one of %v", v, enum)
	}
	typ, _ := s["type"].(string)
	if typ == "" && s["enum"] == nil {
		fail("the schema gives no type")
		return
	}
	switch v := v.(type) {
	case string:
		if typ != "" && typ != "string" {
			fail("string %q, want %s", v, typ)
		}
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
				fail("%q is not a date-time", v)
			}
		}
	case bool:
		if typ != "" && typ != "boolean" {
			fail("boolean, want %s", typ)
		}
	case json.Number:
		_, err := v.Int64()
		switch {
		case typ == "number":
		case typ == "integer" && err == nil:
		default:
			fail("number %s, want %s", v, typ)
		}
	case []any:
		if typ != "array" {
			fail("array, want %s", typ)
			return
		}
		if mn, ok := s["minItems"]; ok && len(v) < atoi(mn) {
			fail("%d items, fewer than minItems %v", len(v), mn)
		}
		if mx, ok := s["maxItems"]; ok && len(v) > atoi(mx) {
			fail("%d items, more than maxItems %v", len(v), mx)
		}
		items, ok := s["items"].(map[string]any)
		if !ok {
			fail("array schema without items")
			return
		}
		for i, it := range v {
			d.validate(fmt.Sprintf("%s[%d]", where, i), items, it, errs)
		}
	case map[string]any:
		if typ != "object" {
			fail("object, want %s", typ)
			return
		}
		props, _ := s["properties"].(map[string]any)
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if p, ok := props[k].(map[string]any); ok {
				d.validate(where+"."+k, p, v[k], errs)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if ap {
					continue
				}
			case map[string]any:
				d.validate(where+"."+k, ap, v[k], errs)
				continue
			}
			fail("field %q is not declared", k)
		}
		req, _ := s["required"].([]any)
		for _, r := range req {
			if _, ok := v[r.(string)]; !ok {
				fail("required field %q is missing", r)
			}
		}
	default:
		fail("unexpected JSON value %T", v)
	}
}

// atoi is the value of a schema's integer keyword, 0 if absent.
func atoi(v any) int {
	n, ok := v.(json.Number)
	if !ok {
		return 0
	}
	i, _ := n.Int64()
	return int(i)
}

// The validator finds what the served-body tests rely on it to find.
func TestOpenAPIValidator(t *testing.T) {
	root, err := decodeJSON([]byte(`{"components":{"schemas":{
	 "A":{"type":"object","required":["id","p"],"properties":{"id":{"type":"integer"},"p":{"type":"string","nullable":true},"t":{"type":"string","format":"date-time"},"s":{"type":"string","enum":["x","y"]},"l":{"type":"array","maxItems":2,"items":{"type":"boolean"}}}},
	 "B":{"allOf":[{"$ref":"#/components/schemas/A"},{"type":"object","required":["b"],"properties":{"b":{"type":"object","additionalProperties":true}}}]},
	 "E":{"type":"object","required":["error"],"properties":{"error":{"type":"string"}}},
	 "O":{"oneOf":[{"$ref":"#/components/schemas/A"},{"$ref":"#/components/schemas/E"}]},
	 "N":{"type":"object","properties":{"loose":{}}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	d := &specDoc{root: root.(map[string]any)}
	for _, c := range []struct {
		schema, body string
		want         []string // substrings of the errors, in order
	}{
		{"A", `{"id":1,"p":null,"t":"2024-01-02T03:04:05.5Z","s":"x","l":[true]}`, nil},
		{"A", `{"id":1,"p":"v","extra":0}`, []string{`field "extra" is not declared`}},
		{"A", `{"p":"v"}`, []string{`required field "id" is missing`}},
		{"A", `{"id":1.5,"p":2}`, []string{"number 1.5, want integer", "number 2, want string"}},
		{"A", `{"id":1,"p":"v","t":"yesterday","s":"z","l":[1,true,false]}`,
			[]string{"3 items, more than maxItems 2", "number 1, want boolean", "is not one of", "not a date-time"}},
		{"A", `null`, []string{"not nullable"}},
		{"A", `[]`, []string{"array, want object"}},
		{"B", `{"id":1,"p":"v","b":{"any":1}}`, nil},
		{"B", `{"id":1,"p":"v","c":true}`, []string{`field "c" is not declared`, `required field "b" is missing`}},
		{"O", `{"error":"e"}`, nil},
		{"O", `{"id":1,"p":"v"}`, nil},
		{"O", `{"id":1}`, []string{"matches 0 of the 2 oneOf schemas"}},
		{"N", `{"loose":1}`, []string{"the schema gives no type"}},
		{"Missing", `{}`, []string{"no \"Missing\""}},
	} {
		v, err := decodeJSON([]byte(c.body))
		if err != nil {
			t.Fatal(err)
		}
		var errs []string
		d.validate(c.schema, map[string]any{"$ref": "#/components/schemas/" + c.schema}, v, &errs)
		if len(errs) != len(c.want) {
			t.Errorf("%s %s: errors %q, want %q", c.schema, c.body, errs, c.want)
			continue
		}
		for i, w := range c.want {
			if !strings.Contains(errs[i], w) {
				t.Errorf("%s %s: error %q, want it to say %q", c.schema, c.body, errs[i], w)
			}
		}
	}
}
