package guard

// SetSubqueryFilter turns the policy's filter inside chains and _has off (false) or on: the
// confinement test proves with it that it notices a subquery left unfiltered.
func SetSubqueryFilter(on bool) { filterSubqueries = on }
