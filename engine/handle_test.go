package engine

import (
	"reflect"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// bookLive reports whether order id is live in its book m: found at the
// handle the order table keeps for it.
func (s *State) bookLive(m *market, id uint64) bool {
	_, ok := s.bookOrder(m, id)
	return ok
}

// copyEvent copies every field of a book event but its Handle: a field
// added to book.Event must be added there.
func TestCopyEventFields(t *testing.T) {
	var src book.Event
	v := reflect.ValueOf(&src).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Uint8, reflect.Uint64:
			f.SetUint(uint64(i + 1))
		case reflect.Int32, reflect.Int64:
			f.SetInt(int64(i + 1))
		default:
			t.Fatalf("book.Event.%s: a kind of field (%s) the test does not fill", v.Type().Field(i).Name, f.Kind())
		}
	}
	var dst book.Event
	copyEvent(&dst, &src)
	want := src
	want.Handle = 0
	if dst != want {
		t.Errorf("copyEvent gives\n%+v\nwant\n%+v", dst, want)
	}
}

// resultOf returns the result that gave out.
func resultOf(out Outcome) result { return result{Err: out.Err, ID: out.ID, Duplicate: out.Duplicate} }
