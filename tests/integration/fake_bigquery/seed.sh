#!/bin/sh
# seed.sh OUT [BULK_ROWS] - writes the dataset the fake BigQuery serves to the tests
# (tests/integration/bigquery.sh, bigquery_clients.sh), as --data for
# fake_bigquery/server.js:
#
#   users     12 rows of every scalar type, REPEATED STRING, a RECORD with a
#             nested RECORD, JSON, NULLs, unicode, INT64 above 2^53;
#             updated_at ties for ids 3..7 (across pages of 4 and of 5),
#             user 10's time has microseconds
#   events    8 rows: REPEATED RECORD, REPEATED TIMESTAMP, INT64 up to 2^63 - 1
#   accounts  an INT64 cursor column, one id negative
#   codes     a STRING cursor column: "" and digits ("0042" < "7" bytewise)
#   blobs     a BYTES cursor column whose base64 sorts unlike its bytes
#             ("/A==" is 0xfc, "gA==" 0x80)
#   nulls     a NULL in the second cursor column within ties of the first
#   history   TIMESTAMP, DATE and DATETIME cursor columns before 1970: the
#             first instant BigQuery holds (0001-01-01), 1900, 1969, 2026
#   floats    a FLOAT64 cursor column with -Infinity, Infinity and NaN (as
#             BigQuery writes them in rows)
#   secret    access denied
#   bulk      BULK_ROWS (default 12000) generated events of 400 users, three
#             per timestamp, in pages of at most 500 rows
set -eu
[ $# -ge 1 ] || { echo "usage: seed.sh OUT [BULK_ROWS]" >&2; exit 2; }
# 12 users; updated_at ties for ids 3..7 (across pages of 4 and fake pages of 5);
# user 10's time has microseconds; big is above 2^53.
base=1767225600 # 2026-01-01T00:00:00Z
jq -n --argjson base $base --argjson bulk "${2:-12000}" '
  def us($s): "\($s)000000";
  {users: {schema: [
     {name: "id", type: "INTEGER", mode: "NULLABLE"}, {name: "user_id", type: "STRING"},
     {name: "email", type: "STRING"}, {name: "plan", type: "STRING"},
     {name: "score", type: "NUMERIC"}, {name: "ratio", type: "FLOAT"},
     {name: "vip", type: "BOOLEAN"}, {name: "updated_at", type: "TIMESTAMP"},
     {name: "signup", type: "DATE"}, {name: "last_login", type: "DATETIME"},
     {name: "big", type: "INTEGER"}, {name: "tags", type: "STRING", mode: "REPEATED"},
     {name: "address", type: "RECORD", fields: [{name: "city", type: "STRING"},
       {name: "zip", type: "STRING"}, {name: "geo", type: "RECORD", fields: [
         {name: "lat", type: "FLOAT"}, {name: "lon", type: "FLOAT"}]}]},
     {name: "prefs", type: "JSON"}, {name: "name", type: "STRING"}],
   rows: [range(1; 13) as $i | [
     "\($i)", "u\($i)", "user\($i)@example.com",
     (if $i % 3 == 0 then null elif $i % 2 == 0 then "gold" else "silver" end),
     "\($i).50", ($i / 4), ($i % 2 == 0),
     (if $i <= 2 then us($base + $i * 60) elif $i <= 7 then us($base + 600)
      elif $i == 10 then "\($base + 600 + $i * 60)123456" else us($base + 600 + $i * 60) end),
     "2024-0\($i % 9 + 1)-1\($i % 10)", "2025-12-3\($i % 2)T10:1\($i % 10):00.250000",
     "9007199254741\(100 + $i)", ["t\($i)", "ü\($i)"],
     (if $i == 5 then null else {city: "Zürich \($i)", zip: null, geo: {lat: 47.5, lon: 8.25}} end),
     {theme: "dark", n: $i}, "Zoë 🚀 \($i)"]]},
   events: {schema: [
     {name: "event_id", type: "STRING"}, {name: "user_id", type: "STRING"},
     {name: "event_name", type: "STRING"}, {name: "occurred_at", type: "TIMESTAMP"},
     {name: "device_id", type: "STRING"},
     {name: "items", type: "RECORD", mode: "REPEATED", fields: [{name: "sku", type: "STRING"},
       {name: "qty", type: "INTEGER"}, {name: "price", type: "NUMERIC"}]},
     {name: "seen", type: "TIMESTAMP", mode: "REPEATED"}, {name: "big", type: "INT64"}],
   rows: [range(1; 9) as $i | [
     "e\($i)", "u\($i % 3 + 1)", (if $i % 2 == 0 then "purchase" else "view" end),
     us($base + 3600 + ($i / 3 | floor) * 60), (if $i % 4 == 0 then null else "d\($i)" end),
     [range(0; $i % 3) as $k | {sku: "s\($k)", qty: "\($k + 1)", price: "9.99"}],
     [us($base + $i)], "922337203685477580\($i - 1)"]]},
   accounts: {schema: [{name: "acct_id", type: "INTEGER"}, {name: "owner", type: "STRING"}],
     rows: ([range(1; 4) as $i | ["\($i * 10)", "u\($i)"]] + [["-5", "u9"]])},
   codes: {schema: [{name: "code", type: "STRING"}, {name: "owner", type: "STRING"}],
     rows: [["0100", "u3"], ["", "u1"], ["7", "u4"], ["0042", "u2"]]},
   blobs: {schema: [{name: "k", type: "BYTES"}, {name: "owner", type: "STRING"}],
     rows: [["/A==", "b4"], ["AA==", "b1"], ["gA==", "b3"], ["QQ==", "b2"]]},
   nulls: {schema: [{name: "updated_at", type: "TIMESTAMP"}, {name: "id", type: "INTEGER"},
       {name: "user_id", type: "STRING"}],
     rows: [[us($base + 60), "1", "n3"], [us($base), "2", "n1"], [us($base + 60), null, "n4"],
       [us($base), null, "n2"]]},
   history: {schema: [{name: "id", type: "INTEGER"}, {name: "owner", type: "STRING"},
       {name: "at", type: "TIMESTAMP"}, {name: "day", type: "DATE"}, {name: "wall", type: "DATETIME"}],
     rows: [["4", "h4", us($base), "2026-01-01", "2026-01-01T00:00:00"],
       ["1", "h1", us(-62135596800), "0001-01-01", "0001-01-01T00:00:00"],
       ["3", "h3", "-1", "1969-12-31", "1969-12-31T23:59:59.999999"],
       ["2", "h2", us(-2208988800), "1900-01-01", "1900-01-01T00:00:00"]]},
   floats: {schema: [{name: "x", type: "FLOAT"}, {name: "owner", type: "STRING"}],
     rows: [["Infinity", "f4"], ["1.5", "f3"], ["NaN", "f2"], ["-Infinity", "f1"]]},
   secret: {denied: true, schema: [{name: "id", type: "INTEGER"}], rows: []},
   bulk: {generate: $bulk, users: 400, page_rows: 500, schema: [
     {name: "id", type: "INTEGER"}, {name: "user_id", type: "STRING"},
     {name: "email", type: "STRING"}, {name: "plan", type: "STRING"},
     {name: "updated_at", type: "TIMESTAMP"}, {name: "event_name", type: "STRING"}]}}' >"$1"

