package guard

// SetSubqueryFilter turns the policy's filter inside chains and _has off (false) or on: the
// confinement test proves with it that it notices a subquery left unfiltered.
func SetSubqueryFilter(on bool) { filterSubqueries = on }

// CachedIndexes is how many versions' index entries the Source remembers.
func (s *Source) CachedIndexes() int {
	s.indexes.mu.Lock()
	defer s.indexes.mu.Unlock()
	return len(s.indexes.byKey)
}
