package app

import "strings"

// JSONArray returns a JSON array of the JSON texts in elems: a parameter of
// type jsonb that jsonb_array_elements takes apart, cheaper to make than
// an array of jsonb (pq.Array escapes each of its quotes). Set-based
// statements pass rows' JSON values this way (scim.CreateUsers and its
// riders).
func JSONArray(elems []string) string { return "[" + strings.Join(elems, ",") + "]" }
