# bench/ingest/gen_bodies.awk - the request bodies of the ingest benchmark,
# one compact JSON body a line (bench/ingest/run.sh caches them).
#
#   awk -f gen_bodies.awk -v kind=batch|track|bulk -v bodies=N -v users=U \
#       -v seed=S -v base_iso=2026-11-30T12 -v base_ms=1796040000000
#
# kind=batch: Segment /v1/batch bodies of 100 events as analytics.js sends
#   them (60 % track, 20 % page, 20 % identify, full context, batch sentAt);
# kind=track: one Segment track event each (the /v1/track form);
# kind=bulk:  mParticle /v2/bulkevents bodies: 20 batches of 5 events
#   (custom events, screen views, a commerce event now and then, with
#   user_identities, device_info, user_attributes, an int64 mpid).
#
# Users are drawn from a pool of `users`; 40 % of them are logged in
# (userId / customerid "u<N>" beside their anonymousId / device id).  Every
# messageId, source_message_id and source_request_id holds the token XRUNX,
# which the wrk script (ingest.lua) replaces on every request with a unique
# prefix, so a rotation through the bodies never repeats an id and the hub
# never answers from its dedupe.
BEGIN {
	srand(seed)
	nev = split("Product Viewed,Product Added,Checkout Started,Order Completed,Products Searched,Product List Viewed,Cart Viewed,Coupon Applied,Video Played,Signed In", evnames, ",")
	npg = split("/,/shoes,/shoes/p-1042,/cart,/checkout,/account,/search?q=boots,/blog/spring-sale", pages, ",")
	nsc = split("Home,Catalog,Product Detail,Cart,Checkout,Settings,Search", screens, ",")
	ncat = split("shoes,bags,coats,shirts,hats", cats, ",")
	nplan = split("free,gold,silver,platinum", plans, ",")
	nloc = split("en-US,de-DE,fr-FR,es-ES,en-GB,pt-BR,it-IT", locales, ",")
	ntz = split("America/New_York,Europe/Berlin,Europe/Paris,Europe/Madrid,Europe/London,America/Sao_Paulo,Europe/Rome", tzs, ",")
	ua = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
	seq = 0
	for (b = 0; b < bodies; b++) {
		if (kind == "batch") {
			printf "{\"batch\":["
			for (e = 0; e < 100; e++) {
				if (e) printf ","
				segment_event(b)
			}
			printf "],\"sentAt\":\"%s\",\"writeKey\":\"\"}\n", iso(3599)
		} else if (kind == "track") {
			segment_event_of(b, "track")
			printf "\n"
		} else {
			printf "["
			for (k = 0; k < 20; k++) {
				if (k) printf ","
				mp_batch(b, k)
			}
			printf "]\n"
		}
	}
}
function iso(sec) {
	return sprintf("%s:%02d:%02d.%03dZ", base_iso, int(sec / 60) % 60, sec % 60, int(rand() * 1000))
}
function user() { return int(rand() * users) }
function segment_event(b,    r) {
	r = rand()
	if (r < 0.6) segment_event_of(b, "track")
	else if (r < 0.8) segment_event_of(b, "page")
	else segment_event_of(b, "identify")
}
function segment_event_of(b, type,    u, li, loc, ctx, p, price) {
	u = user()
	li = (u % 5 < 2)
	if (type == "identify" && !li) type = "page"
	loc = u % nloc + 1
	p = pages[int(rand() * npg) + 1]
	seq++
	printf "{\"type\":\"%s\",\"messageId\":\"ajs-next-XRUNX-%d\",\"anonymousId\":\"a%07d-4c1e-9f3b-%06d\"", type, seq, u, u % 999983
	if (li) printf ",\"userId\":\"u%d\"", u
	printf ",\"timestamp\":\"%s\"", iso(int(rand() * 3599))
	if (type == "track") {
		price = int(rand() * 20000) / 100
		printf ",\"event\":\"%s\",\"properties\":{\"product_id\":\"p-%d\",\"sku\":\"SKU-%05d\",\"category\":\"%s\",\"price\":%.2f,\"quantity\":%d,\"currency\":\"EUR\",\"value\":%.2f}", \
			evnames[int(rand() * nev) + 1], int(rand() * 5000), int(rand() * 99999), cats[int(rand() * ncat) + 1], price, int(rand() * 3) + 1, price
	} else if (type == "page") {
		printf ",\"name\":\"%s\",\"properties\":{\"path\":\"%s\",\"url\":\"https://shop.example.com%s\",\"title\":\"Shop - %s\",\"referrer\":\"https://www.google.com/\",\"search\":\"\"}", \
			p, p, p, p
	} else {
		printf ",\"traits\":{\"email\":\"u%d@mail.example.com\",\"firstName\":\"First%d\",\"lastName\":\"Last%d\",\"plan\":\"%s\",\"logins\":%d,\"createdAt\":\"2025-0%d-1%dT08:00:00.000Z\"}", \
			u, u, u, plans[u % nplan + 1], int(rand() * 200), u % 9 + 1, u % 10
	}
	printf ",\"context\":{\"library\":{\"name\":\"analytics.js\",\"version\":\"npm:next-1.64.0\"},\"page\":{\"path\":\"%s\",\"url\":\"https://shop.example.com%s\",\"referrer\":\"https://www.google.com/\",\"title\":\"Shop\"},\"userAgent\":\"%s\",\"locale\":\"%s\",\"timezone\":\"%s\",\"ip\":\"203.0.113.%d\",\"campaign\":{\"source\":\"newsletter\",\"medium\":\"email\",\"name\":\"spring\"}}", \
		p, p, ua, locales[loc], tzs[loc], u % 250 + 1
	printf ",\"integrations\":{},\"sentAt\":\"%s\"}", iso(3599)
}
function mp_batch(b, k,    u, li, e, r, t, ms) {
	u = user()
	li = (u % 5 < 2)
	ms = base_ms + int(rand() * 3600000)
	printf "{\"source_request_id\":\"XRUNX-%d-%d\",\"environment\":\"production\",\"schema_version\":2", b, k
	printf ",\"mpid\":-843356%06d474420", u
	printf ",\"user_identities\":{"
	if (li) printf "\"customerid\":\"u%d\",\"email\":\"u%d@mail.example.com\"", u, u
	printf "}"
	printf ",\"device_info\":{\"platform\":\"iOS\",\"ios_idfv\":\"%08d-0000-4000-8000-%012d\",\"os_version\":\"17.2\",\"brand\":\"Apple\",\"model\":\"iPhone15,2\",\"locale_language\":\"en\",\"locale_country\":\"US\"}", u, u
	printf ",\"application_info\":{\"application_name\":\"Shop\",\"application_version\":\"3.2.1\",\"os\":\"IOS\"}"
	if (li) printf ",\"user_attributes\":{\"$FirstName\":\"First%d\",\"$LastName\":\"Last%d\",\"plan\":\"%s\",\"Favorite Color\":\"blue\"}", u, u, plans[u % nplan + 1]
	printf ",\"timestamp_unixtime_ms\":%.0f,\"events\":[", ms
	for (e = 0; e < 5; e++) {
		if (e) printf ","
		seq++
		r = rand()
		t = ms + e * 1000
		if (r < 0.55)
			printf "{\"event_type\":\"custom_event\",\"data\":{\"event_name\":\"%s\",\"custom_event_type\":\"navigation\",\"source_message_id\":\"XRUNX-m%d\",\"timestamp_unixtime_ms\":%.0f,\"custom_attributes\":{\"product_id\":\"p-%d\",\"category\":\"%s\",\"price\":\"%.2f\"}}}", \
				evnames[int(rand() * nev) + 1], seq, t, int(rand() * 5000), cats[int(rand() * ncat) + 1], int(rand() * 20000) / 100
		else if (r < 0.9)
			printf "{\"event_type\":\"screen_view\",\"data\":{\"screen_name\":\"%s\",\"source_message_id\":\"XRUNX-m%d\",\"timestamp_unixtime_ms\":%.0f,\"custom_attributes\":{\"from\":\"tab_bar\"}}}", \
				screens[int(rand() * nsc) + 1], seq, t
		else
			printf "{\"event_type\":\"commerce_event\",\"data\":{\"source_message_id\":\"XRUNX-m%d\",\"timestamp_unixtime_ms\":%.0f,\"currency_code\":\"EUR\",\"product_action\":{\"action\":\"purchase\",\"transaction_id\":\"T%d\",\"total_amount\":%.2f,\"products\":[{\"id\":\"p-%d\",\"name\":\"Boot\",\"price\":%.2f,\"quantity\":1}]}}}", \
				seq, t, seq, int(rand() * 20000) / 100, int(rand() * 5000), int(rand() * 20000) / 100
	}
	printf "]}"
}
