# pg_invariants.sh - the identity invariants of a PostgreSQL store schema,
# for the multi-process tests (pg_multiprocess.sh, pg_multiprocess_http.sh).
# Sourced; the caller defines sql() (one query, unaligned tuples), fail()
# and $T (its temp dir).

# pg_matches_serial: the multi-process store's live custom_ids and stored
# events ($T/mp.customs, $T/mp.events; sorted) equal a serial replay's
# ($T/serial.*), and no event is stored twice; fail()s otherwise.
pg_matches_serial() {
	[ -s "$T/serial.customs" ] || fail "the serial replay has no known profile"
	cmp -s "$T/mp.customs" "$T/serial.customs" ||
		fail "custom_ids differ from the serial replay: $(diff "$T/mp.customs" "$T/serial.customs" | head -5)"
	cmp -s "$T/mp.events" "$T/serial.events" ||
		fail "events differ from the serial replay: $(diff "$T/mp.events" "$T/serial.events" | head -5)"
	[ -z "$(uniq -d "$T/mp.events")" ] ||
		fail "an event is stored twice: $(uniq -d "$T/mp.events" | head -3)"
}

# pg_identity_invariants SCHEMA: fail()s for each invariant broken: never two
# live profiles with one custom_id, every identifier (so every installation)
# held by a live profile, a known profile holds its own custom_id, no event
# on a missing or merged profile.
pg_identity_invariants() {
	pi_s=$1
	pi_n=$(sql "SELECT count(*) FROM (SELECT custom_id FROM $pi_s.profiles WHERE merged_into IS NULL
		AND custom_id IS NOT NULL GROUP BY custom_id HAVING count(*) > 1) d")
	[ "$pi_n" = 0 ] || fail "$pi_s: $pi_n custom_ids on two live profiles"
	pi_n=$(sql "SELECT count(*) FROM $pi_s.identifiers i LEFT JOIN $pi_s.profiles p
		ON p.id = i.profile_id WHERE p.id IS NULL OR p.merged_into IS NOT NULL")
	[ "$pi_n" = 0 ] || fail "$pi_s: $pi_n identifiers held by a missing or merged profile"
	pi_n=$(sql "SELECT count(*) FROM $pi_s.profiles p WHERE p.merged_into IS NULL
		AND p.custom_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM $pi_s.identifiers i
		WHERE i.type = 'custom_id' AND i.value = p.custom_id AND i.profile_id = p.id)")
	[ "$pi_n" = 0 ] || fail "$pi_s: $pi_n known profiles without their own custom_id"
	pi_n=$(sql "SELECT count(*) FROM $pi_s.events e LEFT JOIN $pi_s.profiles p
		ON p.id = e.profile_id WHERE p.id IS NULL OR p.merged_into IS NOT NULL")
	[ "$pi_n" = 0 ] || fail "$pi_s: $pi_n events on a missing or merged profile"
}
