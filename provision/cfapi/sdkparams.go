package cfapi

import (
	"fmt"
	"reflect"
)

// The SDK's request params hold their values in param.Field[T], whose package is internal;
// its only constructor, cloudflare.F, lives in the SDK's root package, which flareform does not
// import (it links every service of the SDK into the binary: see apiClient). These helpers
// fill a Field through its exported Value and Present fields, which is all cloudflare.F does.

// sdkParams builds an SDK request's params; fill sets the fields with setParam:
//
//	sdkParams(func(p *workers.ScriptListParams) { setParam(&p.AccountID, id); setParam(&p.PerPage, int64(1)) })
func sdkParams[P any](fill func(p *P)) P {
	var p P
	fill(&p)
	return p
}

// setParam sets an SDK request field (a param.Field[T]) to v and marks it present, like
// `field = cloudflare.F(v)`. v's type must be the field's T (int64(1), not 1): a mismatch is a
// programming error and panics on the first call.
func setParam[Field any, T any](field *Field, v T) {
	setField(reflect.ValueOf(field).Elem(), reflect.ValueOf(&v).Elem()) // &v keeps T when T is an interface type
}

// accountParams is the params of an SDK call that takes nothing but the account id, like
// workers.ScriptGetParams{AccountID: cloudflare.F(accountID)}.
func accountParams[P any](accountID string) P {
	var p P
	field := reflect.ValueOf(&p).Elem().FieldByName("AccountID")
	if !field.IsValid() {
		panic(fmt.Sprintf("cfapi: %T has no AccountID field", p))
	}
	setField(field, reflect.ValueOf(accountID))
	return p
}

// setField sets a param.Field's Value to v and its Present to true.
func setField(field, v reflect.Value) {
	if field.Kind() != reflect.Struct {
		panic(fmt.Sprintf("cfapi: a %s for %s, not an SDK field", v.Type(), field.Type()))
	}
	value, present := field.FieldByName("Value"), field.FieldByName("Present")
	if !value.IsValid() || present.Kind() != reflect.Bool || !v.Type().AssignableTo(value.Type()) {
		panic(fmt.Sprintf("cfapi: a %s for an SDK field of type %s", v.Type(), field.Type()))
	}
	value.Set(v)
	present.SetBool(true)
}
