#!/bin/sh
# identity-probe.sh: proves that this Linux VM's managed identity can read its resource group through ARM.
#
# The POSIX sh twin of scripts/Invoke-IdentityProbe.ps1, under the same contract (probe/contract.md):
# a token from IMDS for the ARM audience, a GET of the resource group, a GET of the identity's permissions on
# it, and one compact JSON report (identitylab.probe/v1) as the last line of stdout. The same retry classes,
# deadline, fault budget, size caps, cause codes and secrecy. Ubuntu's /bin/sh is dash and the Custom Script
# extension runs the script with it, so only POSIX sh, curl, awk, sed, tr, head, base64 and sleep are used (no jq,
# which IMDS's own doc says is "available in many cases, but not all": azure-compute-docs
# articles/virtual-machines/instance-metadata-service.md). The access token never reaches argv, stdout or
# stderr: it is handed to curl on its stdin (-K -). IMDS's answer that carries it is kept, as every answer is, in
# the probe's own directory (mktemp -d: mode 0700, root's on the VM), removed when the probe ends or is stopped.
#
# Parameters, as the PowerShell probe's: -SubscriptionId -ResourceGroupName [-ArmEndpoint] [-ImdsEndpoint]
# [-DeadlineSeconds] [-RequestTimeoutSeconds] [-RetryBaseSeconds] [-RetryCapSeconds] [-FaultBudgetSeconds] [-Grants].
# -Grants '<compact JSON list>' is grants mode (probe/contract.md "Grants mode"), as the PowerShell probe's
# #region grants blocks do it: per grant a token for its identity, the ARM read, effective permissions, List Blobs.
# Test seams: IDENTITYLAB_IMDS_ENDPOINT, IDENTITYLAB_ARM_URL, IDENTITYLAB_DEADLINE_SECONDS (lowers only),
# IDENTITYLAB_BLOB_URL (List Blobs for https://<account>.blob.<suffix>/<container> goes to <url>/<account>/<container>).
set -eu

SubscriptionId=
ResourceGroupName=
ArmEndpoint=https://management.azure.com/
ImdsEndpoint=http://169.254.169.254
DeadlineSeconds=900
RequestTimeoutSeconds=20
RetryBaseSeconds=1
RetryCapSeconds=5
FaultBudgetSeconds=120
Grants=
while [ $# -gt 1 ]; do
  case $1 in
    -SubscriptionId) SubscriptionId=$2 ;;
    -ResourceGroupName) ResourceGroupName=$2 ;;
    -ArmEndpoint) ArmEndpoint=$2 ;;
    -ImdsEndpoint) ImdsEndpoint=$2 ;;
    -DeadlineSeconds) DeadlineSeconds=$2 ;;
    -RequestTimeoutSeconds) RequestTimeoutSeconds=$2 ;;
    -RetryBaseSeconds) RetryBaseSeconds=$2 ;;
    -RetryCapSeconds) RetryCapSeconds=$2 ;;
    -FaultBudgetSeconds) FaultBudgetSeconds=$2 ;;
    -Grants) Grants=$2 ;;
    *) break ;;
  esac
  shift 2
done

# Everything that parses bytes does so as bytes: the report's ASCII escaping depends on it.
LC_ALL=C
export LC_ALL
SEP=$(printf '\034')
T=$(mktemp -d)
DONE=
TOK=
EXP=0
PH=imds
ATT_imds=0
ATT_resourceGroup=0
ATT_permissions=0
ATT_read=0 ATT_ra=0 ATT_rd=0 ATT_data=0
TOKKEY='' G_U='' G_S='' G_AUD='' G_OID='' XH=''
NG=0 F_SET='' TOT_imds=0 TOT_permissions=0
E_SET=
ID_SET=
RG_SET=
PERM_SET=

now() {
  read -r u _ </proc/uptime
  echo "$u"
}
T0=$(now)
calc() { awk "BEGIN { $1 }"; }
elapsed() { calc "printf \"%.3f\", $(now) - $T0"; }

v=${IDENTITYLAB_IMDS_ENDPOINT:-}
[ -z "$v" ] || ImdsEndpoint=$v
v=${IDENTITYLAB_DEADLINE_SECONDS:-}
if [ -n "$v" ] && [ "$(calc "print ($v < $DeadlineSeconds)")" = 1 ]; then DeadlineSeconds=$v; fi
base=${IDENTITYLAB_ARM_URL:-$ArmEndpoint}
base=${base%/}
want="/subscriptions/$SubscriptionId/resourceGroups/$ResourceGroupName"

# RFC 3986 unreserved characters pass; every other byte is %XX (Uri.EscapeDataString's rule).
urlenc() {
  printf '%s' "$1" | od -An -v -tx1 | awk '
    BEGIN { for (i = 0; i < 256; i++) hex[sprintf("%02x", i)] = i; u = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~" }
    { for (i = 1; i <= NF; i++) { c = sprintf("%c", hex[$i]); if (index(u, c)) printf "%s", c; else printf "%%%s", toupper($i) } }'
}
rgurl="$base/subscriptions/$SubscriptionId/resourceGroups/$(urlenc "$ResourceGroupName")"

# JSON to one line per value: <path> TAB <type> TAB <raw string or literal>, path segments led by \034; types
# o a s n b z. Strings stay JSON-escaped (validated). Exit 1 when the text is not one JSON value.
flat() {
  awk -v SEP="$SEP" '
function fail() { bad = 1; pos = n + 2 }
function ws(c) { while (pos <= n) { c = substr(s, pos, 1); if (c == " " || c == "\t" || c == "\n" || c == "\r") pos++; else return } }
function str(st, c) {
  pos++; st = pos
  while (pos <= n) {
    c = substr(s, pos, 1)
    if (c == "\"") { pos++; return substr(s, st, pos - 1 - st) }
    if (c == "\\") {
      c = substr(s, pos + 1, 1)
      if (c == "u") { if (substr(s, pos + 2, 4) !~ /^[0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f]$/) { fail(); return "" } pos += 6 }
      else if (c != "" && index("\"\\/bfnrt", c)) pos += 2
      else { fail(); return "" }
    } else if (index(CTL, c)) { fail(); return "" }
    else pos++
  }
  fail(); return ""
}
function val(path, c, k, i, m) {
  ws(); if (pos > n) { fail(); return }
  c = substr(s, pos, 1)
  if (c == "{") {
    out[++no] = path "\to\t"; pos++; ws()
    if (substr(s, pos, 1) == "}") { pos++; return }
    while (!bad) {
      ws(); if (substr(s, pos, 1) != "\"") { fail(); return }
      k = str(); if (bad) return
      ws(); if (substr(s, pos, 1) != ":") { fail(); return }
      pos++; val(path SEP k); if (bad) return
      ws(); c = substr(s, pos, 1); pos++
      if (c == "}") return
      if (c != ",") { fail(); return }
    }
    return
  }
  if (c == "[") {
    out[++no] = path "\ta\t"; pos++; ws()
    if (substr(s, pos, 1) == "]") { pos++; return }
    for (i = 0; !bad; i++) {
      val(path SEP i); if (bad) return
      ws(); c = substr(s, pos, 1); pos++
      if (c == "]") return
      if (c != ",") { fail(); return }
    }
    return
  }
  if (c == "\"") { k = str(); if (!bad) out[++no] = path "\ts\t" k; return }
  m = substr(s, pos, 5)
  if (m == "false") { out[++no] = path "\tb\tfalse"; pos += 5; return }
  m = substr(m, 1, 4)
  if (m == "true" || m == "null") { out[++no] = path "\t" (m == "null" ? "z" : "b") "\t" m; pos += 4; return }
  if (match(substr(s, pos, 400), /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/)) {
    out[++no] = path "\tn\t" substr(s, pos, RLENGTH); pos += RLENGTH; return
  }
  fail()
}
BEGIN { for (i = 1; i < 32; i++) CTL = CTL sprintf("%c", i) }
{ s = NR > 1 ? s "\n" $0 : $0 }
END {
  n = length(s); pos = 1; val("")
  ws(); if (bad || pos <= n) exit 1
  for (i = 1; i <= no; i++) print out[i]
}'
}

# awk's ascii(s): the report's text as ASCII, each other character as JSON's \\uXXXX (UTF-16 pairs above U+FFFF).
# A byte that does not start a whole UTF-8 sequence (a text cut inside a character, or not UTF-8 at all) becomes
# U+FFFD on its own, so the bytes after it, the closing quote among them, are kept. Put first in a program, its
# BEGIN fills ORD (byte -> number) before the program's own BEGIN runs.
ASCII_AWK='
BEGIN { for (i = 1; i < 256; i++) ORD[sprintf("%c", i)] = i }
function ascii(s, o, i, j, c, b, x, cp, k) {
  o = ""
  for (i = 1; i <= length(s); i++) {
    c = substr(s, i, 1); b = ORD[c]
    if (b < 128) { o = o c; continue }
    if (b >= 248 || b < 192) { o = o "\\ufffd"; continue }
    if (b >= 240) { k = 3; cp = b - 240 } else if (b >= 224) { k = 2; cp = b - 224 } else { k = 1; cp = b - 192 }
    for (j = 1; j <= k; j++) { x = ORD[substr(s, i + j, 1)]; if (x < 128 || x >= 192) break; cp = cp * 64 + x - 128 }
    if (j <= k) { o = o "\\ufffd"; continue }
    i += k
    if (cp >= 65536) { cp -= 65536; o = o sprintf("\\u%04x\\u%04x", 55296 + int(cp / 1024), 56320 + cp % 1024) }
    else o = o sprintf("\\u%04x", cp)
  }
  return o
}
'

# Whether two JSON string texts name the same thing: JSON lets a server escape any character (RFC 8259 §7:
# "\/", "\u00e9" and a raw "é" are one text), and ARM compares names case-insensitively. Both sides are spelled
# one way (raw UTF-8 and \uXXXX as lower-case \uxxxx, printable ASCII unescaped) and lowered.
same() {
  printf '%s\n%s\n' "$1" "$2" | awk "$ASCII_AWK"'
function canon(s, o, i, j, n, c, d, h, v) {
  s = ascii(s); o = ""; n = length(s)
  for (i = 1; i <= n; i++) {
    c = substr(s, i, 1)
    if (c != "\\") { o = o c; continue }
    d = substr(s, i + 1, 1); h = tolower(substr(s, i + 2, 4))
    if (d == "/") { o = o "/"; i++; continue }
    if (d == "u" && h ~ /^[0-9a-f][0-9a-f][0-9a-f][0-9a-f]$/) {
      v = 0
      for (j = 1; j <= 4; j++) v = v * 16 + index("0123456789abcdef", substr(h, j, 1)) - 1
      if (v >= 32 && v < 127 && v != 34 && v != 92) o = o sprintf("%c", v); else o = o "\\u" h
      i += 5; continue
    }
    o = o c d; i++
  }
  return tolower(o)
}
{ t[NR] = canon($0) }
END { exit !(NR == 2 && t[1] == t[2]) }'
}

# The value at a path (segments joined by /) when its type is one of $3 (default s).
field() {
  awk -F '\t' -v SEP="$SEP" -v p="$2" -v t="${3:-s}" 'BEGIN { gsub("/", SEP, p) } $1 == p && index(t, $2) { print $3; exit }' "$1"
}

# A JSON string fragment as the probe may echo it: cut, one line, no token-shaped text, at most $2 characters.
safe() {
  printf '%s' "$1" | awk -v max="${2:-300}" '{ s = NR > 1 ? s " " $0 : $0 } END { s = substr(s, 1, 2 * max); gsub(/\\[bfnrt]|\\u00[01][0-9A-Fa-f]|\\u007[Ff]/, " ", s); print s }' |
    sed -e 's/eyJ[A-Za-z0-9_.-]*/[redacted]/g' -e 's/[A-Za-z0-9_-]\{16,\}\.[A-Za-z0-9_-]\{16,\}\.[A-Za-z0-9_-]\{16,\}/[redacted]/g' |
    awk -v max="${2:-300}" '{ s = substr($0, 1, max); if (match(s, /\\+$/) && RLENGTH % 2) s = substr(s, 1, length(s) - 1); else if (match(s, /\\u[0-9A-Fa-f]?[0-9A-Fa-f]?[0-9A-Fa-f]?$/)) s = substr(s, 1, RSTART - 1); printf "%s", s }'
}

# A JSON value for a fragment: null when empty-and-absent is meant, else a quoted string.
jstr() { if [ "${2:-}" = null ] && [ -z "$1" ]; then printf null; else printf '"%s"' "$1"; fi; }

note() { printf '%s t=%s\n' "$1" "$(calc "printf \"%.1f\", $(now) - $T0")"; }

left() { calc "printf \"%.3f\", $DeadlineSeconds - ($(now) - $T0)"; }

# Seconds since the epoch from a JSON number or a string of one, when it lies in 1970..9999.
epoch() { calc "d = \"$1\" + 0; if (\"$1\" ~ /^-?[0-9.eE+]+\$/ && d > 0 && d < 253402300800) printf \"%d\", d"; }

# Seconds since the epoch from an HTTP date in its preferred form, IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT",
# RFC 9110 §5.6.7), which is what servers send; busybox's date -d cannot read it. Empty when it is not one.
httpdate() {
  printf '%s\n' "$1" | awk '{
    if (NF != 6 || $6 != "GMT" || $5 !~ /^[0-9][0-9]:[0-9][0-9]:[0-9][0-9]$/) exit
    m = index("JanFebMarAprMayJunJulAugSepOctNovDec", $3); if (!m || (m - 1) % 3 || length($3) != 3) exit
    m = (m + 2) / 3; d = $2 + 0; y = $4 + 0; split($5, t, ":")
    y -= (m <= 2); era = int(y / 400); yoe = y - era * 400; mp = (m + 9) % 12
    doe = yoe * 365 + int(yoe / 4) - int(yoe / 100) + int((153 * mp + 2) / 5) + d - 1
    printf "%d", (era * 146097 + doe - 719468) * 86400 + t[1] * 3600 + t[2] * 60 + t[3]
  }'
}

isodate() {
  calc "z = int($1 / 86400); r = $1 - z * 86400; z += 719468; era = int(z / 146097); doe = z - era * 146097;
    yoe = int((doe - int(doe / 1460) + int(doe / 36524) - int(doe / 146096)) / 365); y = yoe + era * 400;
    doy = doe - (365 * yoe + int(yoe / 4) - int(yoe / 100)); mp = int((5 * doy + 2) / 153); d = doy - int((153 * mp + 2) / 5) + 1;
    m = mp < 10 ? mp + 3 : mp - 9; if (m <= 2) y++;
    printf \"%04d-%02d-%02dT%02d:%02d:%02dZ\", y, m, d, int(r / 3600), int(r % 3600 / 60), r % 60"
}

# A 200 is evidence only when it answers the question asked; sets CODE and MSG when it does not.
check() {
  f=$2
  case $1 in read | data | ra | rd)
    checkgrant "$1" "$f"
    return
    ;;
  esac
  if [ "$1" = imds ]; then
    t=$(field "$f" /access_token)
    if [ -z "$t" ]; then CODE=NoAccessToken MSG='no access_token'; return; fi
    p=$(printf '%s' "$t" | sed -n 's/^[A-Za-z0-9_-]\{1,\}\.\([A-Za-z0-9_-]\{1,\}\)\.[A-Za-z0-9_-]*$/\1/p')
    ok=
    if [ -n "$p" ]; then
      case $((${#p} % 4)) in 2) p="$p==" ;; 3) p="$p=" ;; esac
      if printf '%s' "$p" | tr '_-' '/+' | base64 -d 2>/dev/null | flat >"$T/claims" 2>/dev/null; then
        if [ "$(awk -F '\t' 'NR == 1 { print $2 }' "$T/claims")" = o ]; then ok=1; fi
      fi
    fi
    if [ -z "$ok" ]; then CODE=OpaqueToken MSG='the token is not a JWT'; return; fi
    e=$(field "$T/claims" /exp n)
    [ -z "$e" ] || e=$(epoch "$e")
    if [ -z "$e" ]; then
      e=$(field "$f" /expires_on sn)
      [ -z "$e" ] || e=$(epoch "$e")
    fi
    if [ -z "$e" ]; then CODE=UnexpectedResponse MSG='the token has no valid expiry'; return; fi
    TOK=$t
    EXP=$e
    return
  fi
  if [ "$1" = resourceGroup ]; then
    i=$(field "$f" /id)
    if ! same "$i" "$want"; then
      CODE=UnexpectedResponse MSG="got id '$i'"
      return
    fi
    if ! same "$(field "$f" /name)" "$ResourceGroupName" ||
      [ -z "$(field "$f" /properties/provisioningState)" ]; then
      CODE=UnexpectedResponse MSG='bad name or provisioningState'
    fi
    return
  fi
  MSG=$(awk -F '\t' -v SEP="$SEP" '
    function seg(p, n) { return split(substr(p, 2), parts, SEP) }
    $1 == SEP "value" { top = $2 }
    { k = split(substr($1, 2), q, SEP) }
    k == 2 && q[1] == "value" { ent[q[2]] = $2; order[++ne] = q[2] }
    k == 3 && q[1] == "value" { f[q[2], q[3]] = $2 }
    k == 4 && q[1] == "value" { if ($2 != "s") badl[q[2], q[3]] = 1 }
    END {
      if (top != "a") { print "no value list"; exit }
      for (j = 1; j <= ne; j++) {
        e = order[j]
        if (ent[e] != "o" || f[e, "actions"] == "" || f[e, "actions"] == "z") { print "entry without actions"; exit }
        split("actions notActions dataActions notDataActions", nm, " ")
        for (x = 1; x <= 4; x++) if ((f[e, nm[x]] != "" && f[e, nm[x]] != "a" && f[e, nm[x]] != "z") || badl[e, nm[x]]) { print "bad " nm[x]; exit }
      }
    }' "$f")
  [ -z "$MSG" ] || CODE=UnexpectedResponse
}

hdr() { awk -v h="$1" 'BEGIN { h = tolower(h) ":" } { sub(/\r$/, "") } tolower(substr($0, 1, length(h))) == h { v = substr($0, length(h) + 1); sub(/^[ \t]+/, "", v); r = v } END { printf "%s", r }' "$T/h"; }

# GET with the retry rules of probe/contract.md; on success the flattened answer is in $T/<phase>.
get() {
  ph=$1 url=$2 n=0 f0=
  max=1048576
  [ "$ph" != imds ] || max=65536
  while :; do
    # sh has no local variables: the token's own get runs on these, so they are kept across it.
    if [ "$ph" != imds ]; then
      k_ph=$ph k_url=$url k_n=$n k_f0=$f0 k_max=$max
      token || return 1
      ph=$k_ph url=$k_url n=$k_n f0=$k_f0 max=$k_max
    fi
    PH=$ph
    n=$((n + 1))
    eval "ATT_$ph=\$((ATT_$ph + 1))"
    s='' CODE='' MSG='' rid='' ra=0
    t0=$(elapsed)
    lf=$(left)
    to=$(calc "m = $RequestTimeoutSeconds; if ($lf < m) m = $lf; if (m < 0.001) m = 0.001; printf \"%.3f\", m")
    : >"$T/h"
    # head caps what is read: past the cap curl's writes fail and the transfer stops.
    if [ "$ph" = imds ]; then
      { curl -s --noproxy '*' -H Metadata:true --max-time "$to" -D "$T/h" -o - "$url" 2>/dev/null; echo $? >"$T/rc"; } |
        head -c $((max + 1)) >"$T/b"
    else
      { printf 'header = "Authorization: Bearer %s"\n%s' "$TOK" "$XH" | curl -s -K - --max-time "$to" -D "$T/h" -o - "$url" 2>/dev/null; echo $? >"$T/rc"; } |
        head -c $((max + 1)) >"$T/b"
    fi
    rc=$(cat "$T/rc")
    s=$(awk '/^HTTP\// { s = $2 } END { printf "%s", s }' "$T/h")
    reason=$(awk '/^HTTP\// { sub(/\r$/, ""); r = $0; sub(/^HTTP\/[^ ]* [0-9]* ?/, "", r) } END { printf "%s", r }' "$T/h")
    size=$(wc -c <"$T/b" | tr -d ' ')
    if [ "$size" -gt "$max" ]; then
      CODE=ResponseTooLarge MSG="over $max bytes"
    elif [ "$rc" != 0 ]; then
      case $rc in
        28) CODE=Timeout MSG="no answer within $to s" ;;
        7) CODE=ConnectionFailed MSG='Connection refused' ;;
        6) CODE=ConnectionFailed MSG='Could not resolve host' ;;
        52) CODE=ConnectionFailed MSG='Empty reply from server' ;;
        56) CODE=ConnectionFailed MSG='Connection reset' ;;
        18) CODE=ConnectionFailed MSG='the connection closed before the whole body came' ;;
        *) CODE=ConnectionFailed MSG="curl exit $rc" ;;
      esac
      # Headers came but the time ran out on the body; a body the connection cut short stays ConnectionFailed.
      if [ -n "$s" ] && [ "$rc" = 28 ]; then CODE=SlowResponse MSG="body not read in $to s"; fi
    fi
    # The contract's requestId is ARM's, for a support case; none is reported for IMDS.
    [ "$ph" = imds ] || rid=$(hdr x-ms-request-id)
    v=$(hdr retry-after)
    if [ -n "$v" ]; then
      case $v in
        *[!0-9]*)
          w=$(httpdate "$v")
          [ -n "$w" ] || w=$(date -u -d "$v" +%s 2>/dev/null || :)
          [ -z "$w" ] || ra=$(calc "print $w - $(date -u +%s)")
          ;;
        *) ra=$v ;;
      esac
    fi
    if [ -z "$CODE" ]; then
      parsed=
      if [ "$ph" = data ]; then
        if blobxml <"$T/b" >"$T/$ph"; then parsed=1; fi
      elif flat <"$T/b" >"$T/$ph" 2>/dev/null; then parsed=1; fi
      if [ "$s" = 200 ]; then
        if [ -z "$parsed" ]; then
          CODE=MalformedResponse MSG='not JSON'
        else
          check "$ph" "$T/$ph"
          if [ -z "$CODE" ]; then
            note "$ph 200 #$n"
            return 0
          fi
        fi
      else
        if [ -n "$parsed" ] && [ -n "$(field "$T/$ph" /error s)" ]; then
          CODE=$(field "$T/$ph" /error s) MSG=$(field "$T/$ph" /error_description sn)
        elif [ -n "$parsed" ]; then
          CODE=$(field "$T/$ph" /error/code sn) MSG=$(field "$T/$ph" /error/message sn)
        fi
        # Continuous access evaluation asks for a token with more claims; IMDS cannot mint one, so waiting is futile.
        case $(hdr www-authenticate) in *insufficient_claims*) CODE=ClaimsChallenge ;; esac
        [ -n "$MSG" ] || MSG=$reason
      fi
    fi
    # A request cut short by the deadline tells nothing new: report what the endpoint last answered.
    if [ "$CODE" = Timeout ] && [ "$n" -gt 1 ] && [ "$(calc "print ($lf < $RequestTimeoutSeconds)")" = 1 ]; then return 1; fi
    E_PH=$ph E_S=$s E_CODE=$(safe "$CODE" 80) E_MSG=$(safe "$MSG") E_RID=$(safe "$rid" 80) E_SET=1
    note "$ph $s $CODE #$n"
    pat=
    if [ "$ph" != imds ] && { [ "$s" = 401 ] || [ "$s" = 403 ]; } && [ "$CODE" != ClaimsChallenge ]; then pat=1; fi
    if [ "$s" = 429 ] && [ "$(calc "print ($ra > 0)")" = 1 ]; then pat=1; fi
    retry=$pat
    case $CODE in MalformedResponse | SlowResponse | Timeout | ConnectionFailed) retry=1 ;; esac
    case $s in 5?? | 408 | 429) retry=1 ;; esac
    if [ "$ph" = imds ]; then case $s in 404 | 410) retry=1 ;; esac; fi
    [ -n "$retry" ] || return 1
    if [ -n "$pat" ]; then f0=; elif [ -z "$f0" ]; then f0=$t0; fi
    # A fresh token costs one IMDS call and rules out an expired or revoked one.
    if [ "$s" = 401 ]; then TOK=; fi
    # Jitter only shortens the wait, so the cap still bounds how late a now-granted role is noticed.
    w=$(calc "srand($$ + $n + $(now) * 100); w = $RetryBaseSeconds; for (i = 1; i < $n && w < $RetryCapSeconds; i++) w *= 2; if (w > $RetryCapSeconds) w = $RetryCapSeconds; w *= 0.9 + 0.1 * rand(); if ($ra > w) w = $ra; printf \"%.3f\", w")
    lf=$(left)
    el=$(elapsed)
    if [ "$(calc "print ($w >= $lf || (\"$f0\" != \"\" && $el + $w - ${f0:-0} >= $FaultBudgetSeconds))")" = 1 ]; then return 1; fi
    sleep "$w"
  done
}

token() {
  if [ -n "$Grants" ]; then
    gtoken
    return
  fi
  # Refresh five minutes before expiry, so that no request leaves with a token that lapses on the way.
  if [ -n "$TOK" ] && [ $((EXP - $(date -u +%s))) -gt 300 ]; then return 0; fi
  TOK=
  get imds "${ImdsEndpoint%/}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=$(urlenc "$ArmEndpoint")" || return 1
  ID_OID=$(safe "$(field "$T/claims" /oid)") ID_TID=$(safe "$(field "$T/claims" /tid)")
  ID_MIRID=$(safe "$(field "$T/claims" /xms_mirid)") ID_AUD=$(safe "$(field "$T/claims" /aud)")
  ID_EXP=$(isodate "$EXP") ID_SET=1
}

# The report, ASCII only and under 3,500 bytes: tags are dropped longest first, then permission entries from the end.
report() {
  if [ -n "$E_SET" ]; then
    st=null
    [ -z "$E_S" ] || st=$E_S
    err="{\"phase\":\"$E_PH\",\"status\":$st,\"code\":$(jstr "$E_CODE" null),\"message\":\"$E_MSG\",\"requestId\":$(jstr "$E_RID" null)}"
  else
    err=null
  fi
  idj=null
  [ -z "$ID_SET" ] || idj="{\"objectId\":$(jstr "$ID_OID" null),\"tenantId\":$(jstr "$ID_TID" null),\"resourceId\":$(jstr "$ID_MIRID" null),\"audience\":$(jstr "$ID_AUD" null),\"expiresOn\":\"$ID_EXP\"}"
  okv=false
  [ -z "$PERM_SET" ] || okv=true
  [ -n "$RG_SET" ] || : >"$T/rgpart"
  [ -n "$PERM_SET" ] || : >"$T/permpart"
  head="{\"schema\":\"identitylab.probe/v1\",\"ok\":$okv,\"resourceGroup\":"
  mid="\"attempts\":{\"imds\":$ATT_imds,\"resourceGroup\":$ATT_resourceGroup,\"permissions\":$ATT_permissions},\"elapsedSeconds\":$(calc "x = sprintf(\"%.1f\", $(now) - $T0); sub(/\\.0\$/, \"\", x); print x"),"
  # The JSON fragments through the environment, not awk -v, which would undo their escapes (\" and \\).
  R_HEAD=$head R_IDJ=$idj R_MID=$mid R_ERR=$err awk -F '\t' -v rg="$RG_SET" -v pm="$PERM_SET" "$ASCII_AWK"'
    function build(r, i, t, p, sep) {
      if (rg) {
        t = ""; sep = ""
        for (i = 1; i <= nt; i++) if (!gone[i]) { t = t sep "\"" tk[i] "\":\"" tv[i] "\""; sep = "," }
        r = rgpre "{" t "}}"
      } else r = "null"
      r = head r ",\"identity\":" idj ",\"permissions\":"
      if (pm) { p = ""; for (i = 1; i <= np; i++) p = p (i > 1 ? "," : "") pe[i]; r = r "[" p "]" } else r = r "null"
      return r "," mid "\"trimmed\":[" trim "],\"error\":" err "}"
    }
    BEGIN { head = ENVIRON["R_HEAD"]; idj = ascii(ENVIRON["R_IDJ"]); mid = ENVIRON["R_MID"]; err = ascii(ENVIRON["R_ERR"]) }
    FILENAME ~ /rgpart$/ && FNR == 1 { rgpre = ascii($0); next }
    FILENAME ~ /rgpart$/ { k = ascii($1); lk = tolower(k); if (lk in at) tv[at[lk]] = ascii($2); else { at[lk] = ++nt; tk[nt] = k; tv[nt] = ascii($2) } next }
    FILENAME ~ /permpart$/ { pe[++np] = ascii($0) }
    END {
      trim = ""; j = build()
      while (length(j) >= 3500 && rg) {
        b = 0; for (i = 1; i <= nt; i++) if (!gone[i] && length(tk[i] tv[i]) >= bl) { b = i; bl = length(tk[i] tv[i]) }
        if (!b) break
        gone[b] = 1; bl = 0; trim = "\"resourceGroup.tags\""; j = build()
      }
      pt = 0
      while (length(j) >= 3500 && pm && np > 0) { np--; if (!pt) { trim = trim (trim == "" ? "" : ",") "\"permissions\""; pt = 1 } j = build() }
      print j
    }' "$T/rgpart" "$T/permpart"
}

# ---- grants mode (probe/contract.md "Grants mode"; the PowerShell probe's #region grants blocks) ----

# Azure Storage answers in XML: <EnumerationResults ContainerName=...> or <Error><Code/><Message/></Error>,
# turned into the flattened form of {"container":...} or {"error":{"code":...,"message":...}}. Exit 1 otherwise.
blobxml() {
  awk -v SEP="$SEP" '
    function esc(v) { gsub(/\\/, "\\\\", v); gsub(/"/, "\\\"", v); gsub(/[\t\r\n]/, " ", v); return v }
    function tag(t, v) { if (match(s, "<" t ">[^<]*</" t ">")) { v = substr(s, RSTART + length(t) + 2, RLENGTH - 2 * length(t) - 5); return esc(v) } return "" }
    { s = NR > 1 ? s " " $0 : $0 }
    END {
      sub(/^\357\273\277/, "", s); sub(/^[ \t\r\n]*/, "", s)
      if (substr(s, 1, 5) == "<?xml") { if (!sub(/^<\?xml[^>]*\?>[ \t\r\n]*/, "", s)) exit 1 }
      if (match(s, /^<EnumerationResults[ \t\r\n>\/]/)) {
        e = s; sub(/>.*/, "", e); c = ""
        if (match(e, /[ \t\r\n]ContainerName="[^"]*"/)) { c = substr(e, RSTART, RLENGTH); sub(/^[^"]*"/, "", c); sub(/"$/, "", c) }
        print "\to\t"; if (c != "") print SEP "container\ts\t" esc(c); exit 0
      }
      if (match(s, /^<Error[ \t\r\n>\/]/)) {
        print "\to\t"; print SEP "error\to\t"
        c = tag("Code"); m = tag("Message")
        if (c != "") print SEP "error" SEP "code\ts\t" c
        if (m != "") print SEP "error" SEP "message\ts\t" m
        exit 0
      }
      exit 1
    }'
}

lower() { printf '%s' "$1" | tr '[:upper:]' '[:lower:]'; }

# Evidence for the grants phases; sets CODE and MSG when a 200 does not answer the question asked.
checkgrant() {
  f=$2
  case $1 in
    read)
      i=$(field "$f" /id)
      if ! same "$i" "$G_S"; then CODE=UnexpectedResponse MSG="got id '$i'"; fi
      return
      ;;
    data)
      if [ -z "$(field "$f" /container)" ]; then CODE=UnexpectedResponse MSG='not a blob list'; fi
      return
      ;;
    ra)
      MSG=$(awk -F '\t' -v SEP="$SEP" '
        $1 == SEP "value" { top = $2 }
        { k = split(substr($1, 2), q, SEP) }
        k == 2 && q[1] == "value" { order[++ne] = q[2] }
        k == 4 && q[1] == "value" && q[3] == "properties" && $2 == "s" && $3 != "" { ok[q[2], q[4]] = 1 }
        END {
          if (top != "a") { print "no value list"; exit }
          for (j = 1; j <= ne; j++) if (!ok[order[j], "roleDefinitionId"] || !ok[order[j], "scope"]) { print "bad role assignment"; exit }
        }' "$f")
      ;;
    rd)
      MSG=$(awk -F '\t' -v SEP="$SEP" '
        { k = split(substr($1, 2), q, SEP) }
        k == 2 && q[1] == "properties" && q[2] == "permissions" { top = $2 }
        k == 4 && q[1] == "properties" && q[2] == "permissions" { f[q[3], q[4]] = $2 }
        k == 5 && q[1] == "properties" && q[2] == "permissions" { if ($2 != "s") badl[q[3], q[4]] = 1 }
        END {
          if (top != "a") { print "no permissions"; exit }
          split("actions notActions dataActions notDataActions", nm, " ")
          for (e in f) { split(e, pq, SUBSEP); x = f[e]; if (x != "a" && x != "z") bad[pq[2]] = 1 }
          for (e in badl) { split(e, pq, SUBSEP); bad[pq[2]] = 1 }
          for (x = 1; x <= 4; x++) if (bad[nm[x]]) { print "bad " nm[x]; exit }
        }' "$f")
      ;;
  esac
  [ -z "$MSG" ] || CODE=UnexpectedResponse
}

# One token at a time, for the grant's identity (client_id, '' = the VM's default) and audience.
gtoken() {
  k="$G_U|$G_AUD"
  if [ -n "$TOK" ] && [ "$TOKKEY" = "$k" ] && [ $((EXP - $(date -u +%s))) -gt 300 ]; then return 0; fi
  TOK=
  TOKKEY=$k
  q="&resource=$(urlenc "$G_AUD")"
  [ -z "$G_U" ] || q="$q&client_id=$(urlenc "$G_U")"
  [ "$G_AUD" != "$ArmEndpoint" ] || G_OID=
  if ! get imds "${ImdsEndpoint%/}/metadata/identity/oauth2/token?api-version=2018-02-01$q"; then
    TOKKEY=
    return 1
  fi
  if [ "$G_AUD" = "$ArmEndpoint" ]; then
    G_OID=$(safe "$(field "$T/claims" /oid)" 80)
    if [ -z "$ID_SET" ]; then
      ID_OID=$G_OID ID_TID=$(safe "$(field "$T/claims" /tid)")
      ID_MIRID=$(safe "$(field "$T/claims" /xms_mirid)") ID_AUD=$(safe "$(field "$T/claims" /aud)")
      ID_EXP=$(isodate "$EXP") ID_SET=1
    fi
  fi
}

# Permission blocks of a flattened answer under path $2 (segments joined by /) as lines
# <grant> TAB <block> TAB <list 1..4, 0 = the block itself> TAB <raw string>, appended to file $5.
permlines() {
  awk -F '\t' -v SEP="$SEP" -v pfx="$2" -v gi="$3" -v tag="$4" '
    BEGIN { np = split(pfx, P, "/"); m["actions"] = 1; m["notActions"] = 2; m["dataActions"] = 3; m["notDataActions"] = 4 }
    { k = split(substr($1, 2), q, SEP); for (i = 1; i <= np; i++) if (q[i] != P[i]) next }
    k == np + 1 { print gi "\t" tag "." q[np + 1] "\t0\t" }
    k == np + 3 && (q[np + 2] in m) && $2 == "s" { print gi "\t" tag "." q[np + 1] "\t" m[q[np + 2]] "\t" $3 }' "$1" >>"$5"
}

# The first failure of the run, kept for the report's error.
firsterr() {
  if [ -z "$F_SET" ]; then F_PH=$1 F_S=$2 F_CODE=$3 F_MSG=$4 F_RID=$5 F_SET=1; fi
}

grants() {
  F_SET='' TOT_imds=0 TOT_permissions=0 NG=0
  : >"$T/gl"
  : >"$T/gp"
  ok=
  if printf '%s' "$Grants" | flat >"$T/grants" 2>/dev/null; then
    NG=$(awk -F '\t' -v SEP="$SEP" '
      NR == 1 && $2 != "a" { bad = 1 }
      { k = split(substr($1, 2), q, SEP) }
      k == 1 { ng++; if ($2 != "o") bad = 1 }
      k == 2 && q[2] ~ /^[nsukvb]$/ && $2 == "s" { has[q[1], q[2]] = 1 }
      END {
        for (i = 0; i < ng; i++) for (j = 1; j <= 6; j++) if (!has[i, substr("nsukvb", j, 1)]) bad = 1
        if (bad || !ng) ng = 0
        print ng + 0
      }' "$T/grants")
    [ "$NG" = 0 ] || ok=1
  fi
  if [ -z "$ok" ]; then
    NG=0
    firsterr grants '' InvalidGrants 'the -Grants JSON is not a list of grant specs' ''
    return 0
  fi
  ab=${IDENTITYLAB_ARM_URL:-$ArmEndpoint}
  ab=${ab%/}
  gi=0
  while [ "$gi" -lt "$NG" ]; do
    ATT_imds=0 ATT_read=0 ATT_permissions=0 ATT_ra=0 ATT_rd=0 ATT_data=0
    E_SET=
    G_U=$(field "$T/grants" "/$gi/u") G_S=$(field "$T/grants" "/$gi/s") G_AUD=$ArmEndpoint
    gk=$(field "$T/grants" "/$gi/k") gb=$(field "$T/grants" "/$gi/b") gv=$(field "$T/grants" "/$gi/v")
    s0=$G_S
    gn=$(safe "$(field "$T/grants" "/$gi/n")" 40)
    oid='' rd='' dt='' pset='' cause=''
    if [ "$(calc "print ($(left) <= 0)")" = 1 ]; then cause=NotReached; else
      gb=$(printf '%s' "$gb" | sed 's:/*$::')
      # A data role grants no read of the account itself, only of its containers: a blob grant reads its container.
      rt=$s0
      if [ "$gk" = blob ] && [ "$(lower "$rt" | awk '/\/containers\/[^\/]+$/ { print 1 }')" != 1 ]; then rt="$rt/blobServices/default/containers/${gb##*/}"; fi
      G_S=$rt
      if get read "$ab$rt?api-version=$(urlenc "$gv")"; then rd=200; fi
      G_S=$s0
      [ "$TOKKEY" != "$G_U|$ArmEndpoint" ] || oid=$G_OID
      if [ "$rd" != 200 ]; then
        if [ -n "$E_SET" ] && [ "$E_PH" = read ]; then rd=$E_S; fi
      else
        if [ "$(lower "$s0" | awk '/^\/subscriptions\/[^\/]+$/ { print 1 }')" = 1 ]; then
          # No permissions operation exists at subscription scope: the identity's role assignments that cover the
          # subscription (at it, or above it), and each one's role definition.
          if get ra "$ab$s0/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&%24filter=$(urlenc "assignedTo('$oid')")"; then
            awk -F '\t' -v SEP="$SEP" -v sub0="$s0" '
              BEGIN { sub0 = tolower(sub0) }
              { k = split(substr($1, 2), q, SEP) }
              k == 2 && q[1] == "value" { order[++ne] = q[2] }
              k == 4 && q[1] == "value" && q[3] == "properties" { v[q[2], q[4]] = $3 }
              END {
                for (j = 1; j <= ne; j++) {
                  sc = tolower(v[order[j], "scope"]); d = v[order[j], "roleDefinitionId"]
                  if (!(sc == "/" || sc == sub0 || sc ~ /^\/providers\/microsoft\.management\/managementgroups\//) || (tolower(d) in seen)) continue
                  seen[tolower(d)] = 1; print d
                }
              }' "$T/ra" >"$T/defs"
            pset=1
            di=0
            : >"$T/gpt"
            while read -r d <&3; do
              di=$((di + 1))
              if ! get rd "$ab$d?api-version=2022-04-01"; then pset=; break; fi
              permlines "$T/rd" properties/permissions "$gi" "$di" "$T/gpt"
            done 3<"$T/defs"
            # A definition that failed leaves no perm: the blocks read before it are not kept.
            [ -z "$pset" ] || cat "$T/gpt" >>"$T/gp"
          fi
        elif get permissions "$ab$s0/providers/Microsoft.Authorization/permissions?api-version=2022-04-01"; then
          permlines "$T/permissions" value "$gi" 0 "$T/gp"
          pset=1
        fi
        if [ "$gk" = blob ]; then
          G_AUD=https://storage.azure.com/
          XH='header = "x-ms-version: 2021-08-06"'
          bu=$gb
          bt=${IDENTITYLAB_BLOB_URL:-}
          if [ -n "$bt" ]; then
            m=$(printf '%s' "$bu" | sed -n 's#^[Hh][Tt][Tt][Pp][Ss]://\([^./]\{1,\}\)\.[Bb][Ll][Oo][Bb]\.[^/]\{1,\}/\(..*\)$#\1/\2#p')
            [ -z "$m" ] || bu="${bt%/}/$m"
          fi
          if get data "$bu?restype=container&comp=list&maxresults=1"; then dt=200; elif [ -n "$E_SET" ] && [ "$E_PH" = data ]; then dt=$E_S; fi
          XH=
        fi
      fi
      if [ "$rd" != 200 ] || [ -z "$pset" ] || { [ "$gk" = blob ] && [ "$dt" != 200 ]; }; then
        cause=ProbeError
        if [ -n "$E_SET" ]; then
          cause=$E_CODE
          firsterr "$E_PH" "$E_S" "$E_CODE" "$E_MSG" "$E_RID"
        fi
      fi
    fi
    att=$((ATT_imds + ATT_read + ATT_permissions + ATT_ra + ATT_rd + ATT_data))
    TOT_imds=$((TOT_imds + ATT_imds)) TOT_permissions=$((TOT_permissions + ATT_permissions))
    [ -z "$cause" ] || firsterr grants '' "$cause" "grant $gn" ''
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$gi" "$gn" "$oid" "$rd" "$dt" "$pset" "$cause" "$att" >>"$T/gl"
    gi=$((gi + 1))
  done
}

# The grants report: ASCII only, under 3,500 bytes: error.message cut to 100 characters first, then the longest
# permission list (most entries, first in grant order) loses its last entry, naming "grants[<i>].perm".
greport() {
  okv=false
  if [ -z "$F_SET" ] && [ "$NG" -gt 0 ]; then okv=true; fi
  idj=null
  [ -z "$ID_SET" ] || idj="{\"objectId\":$(jstr "$ID_OID" null),\"tenantId\":$(jstr "$ID_TID" null),\"resourceId\":$(jstr "$ID_MIRID" null),\"audience\":$(jstr "$ID_AUD" null),\"expiresOn\":\"$ID_EXP\"}"
  el=$(calc "x = sprintf(\"%.1f\", $(now) - $T0); sub(/\\.0\$/, \"\", x); print x")
  # Scalars through a file, not awk -v, which would undo the JSON escapes.
  {
    printf 'H\t{"schema":"identitylab.probe/v1","ok":%s,"resourceGroup":null,"identity":%s,"permissions":null,"attempts":{"imds":%s,"resourceGroup":0,"permissions":%s},"elapsedSeconds":%s,\n' \
      "$okv" "$idj" "${TOT_imds:-0}" "${TOT_permissions:-0}" "$el"
    if [ -n "$F_SET" ]; then printf 'E\t%s\t%s\t%s\t%s\t%s\n' "$F_PH" "$F_S" "$F_CODE" "$F_MSG" "$F_RID"; fi
  } >"$T/gh"
  awk -F '\t' "$ASCII_AWK"'
    function js(v) { return v == "" ? "null" : "\"" v "\"" }
    function num(v) { return v == "" ? "null" : v }
    function cut(s, max) { s = substr(s, 1, max); if (match(s, /\\+$/) && RLENGTH % 2) s = substr(s, 1, length(s) - 1); else if (match(s, /\\u[0-9A-Fa-f]?[0-9A-Fa-f]?[0-9A-Fa-f]?$/)) s = substr(s, 1, RSTART - 1); return s }
    function build(r, i, b, x, y, p, l) {
      r = head "\"trimmed\":[" trim "],\"error\":"
      if (eset) r = r "{\"phase\":\"" eph "\",\"status\":" num(es) ",\"code\":" js(ecode) ",\"message\":\"" emsg "\",\"requestId\":" js(erid) "}"
      else r = r "null"
      r = r ",\"grants\":["
      for (i = 0; i < ng; i++) {
        if (pset[i]) {
          p = ""
          for (b = 1; b <= nb[i]; b++) {
            l = ""
            for (x = 1; x <= 4; x++) {
              l = l (x > 1 ? "," : "") "["
              for (y = 1; y <= cnt[i, b, x]; y++) l = l (y > 1 ? "," : "") "\"" it[i, b, x, y] "\""
              l = l "]"
            }
            p = p (b > 1 ? "," : "") "[" l "]"
          }
          p = "[" p "]"
        } else p = "null"
        r = r (i ? "," : "") "{\"n\":\"" gn[i] "\",\"oid\":" js(oid[i]) ",\"read\":" num(rd[i]) ",\"data\":" num(dt[i]) ",\"perm\":" p ",\"cause\":" js(cause[i]) ",\"att\":" att[i] "}"
      }
      return r "]}"
    }
    FILENAME ~ /gh$/ && $1 == "H" { head = ascii(substr($0, 3)); next }
    FILENAME ~ /gh$/ && $1 == "E" { eset = 1; eph = $2; es = $3; ecode = ascii($4); emsg = ascii($5); erid = ascii($6); next }
    FILENAME ~ /gl$/ { i = $1; ng = i + 1; gn[i] = ascii($2); oid[i] = ascii($3); rd[i] = $4; dt[i] = $5; pset[i] = $6 != ""; cause[i] = ascii($7); att[i] = $8; next }
    FILENAME ~ /gp$/ {
      i = $1
      if (!((i, $2) in bix)) bix[i, $2] = ++nb[i]
      b = bix[i, $2]
      if ($3 > 0) it[i, b, $3, ++cnt[i, b, $3]] = ascii($4)
    }
    END {
      trim = ""; j = build()
      if (length(j) >= 3500 && eset && length(emsg) > 100) { emsg = cut(emsg, 100); trim = "\"error.message\""; j = build() }
      while (length(j) >= 3500) {
        bi = -1; bn = 0
        for (i = 0; i < ng; i++) { if (!pset[i]) continue; for (b = 1; b <= nb[i]; b++) for (x = 1; x <= 4; x++) if (cnt[i, b, x] > bn) { bn = cnt[i, b, x]; bi = i; bb = b; bx = x } }
        if (bi < 0) break
        cnt[bi, bb, bx]--
        k = "\"grants[" bi "].perm\""
        if (index(trim, k) == 0) trim = trim (trim == "" ? "" : ",") k
        j = build()
      }
      print j
    }' "$T/gh" "$T/gl" "$T/gp"
}

finish() {
  rc=$?
  if [ -z "$DONE" ]; then
    DONE=1
    # Whatever happened, the probe ends with its report: an unforeseen error becomes one too.
    if [ -n "$Grants" ]; then
      if [ "$rc" != 0 ]; then
        F_PH=$PH F_S='' F_CODE=ProbeError F_MSG="exit status $rc" F_RID='' F_SET=1
        [ -f "$T/gl" ] || : >"$T/gl"
        [ -f "$T/gp" ] || : >"$T/gp"
      fi
      greport
    else
      if [ "$rc" != 0 ]; then
        E_PH=$PH E_S='' E_CODE=ProbeError E_MSG="exit status $rc" E_RID='' E_SET=1 PERM_SET='' RG_SET=''
        : >"$T/rgpart"
      fi
      report
    fi
  fi
  rm -rf "$T"
  exit 0
}
trap finish EXIT
trap 'exit 1' INT TERM HUP

if [ -n "$Grants" ]; then
  grants
  exit 0
fi

if get resourceGroup "$rgurl?api-version=2022-09-01"; then
  g=$T/resourceGroup
  loc=$(field "$g" /location)
  ps=$(field "$g" /properties/provisioningState)
  {
    printf '{"id":"%s","name":"%s","location":%s,"provisioningState":"%s","tags":\n' "$(field "$g" /id)" "$(field "$g" /name)" "$(jstr "$loc" null)" "$ps"
    awk -F '\t' -v SEP="$SEP" '$2 == "s" { k = split(substr($1, 2), q, SEP); if (k == 2 && q[1] == "tags") print q[2] "\t" $3 }' "$g"
  } >"$T/rgpart"
  RG_SET=1
  if get permissions "$rgurl/providers/Microsoft.Authorization/permissions?api-version=2022-04-01"; then
    awk -F '\t' -v SEP="$SEP" '
      { k = split(substr($1, 2), q, SEP) }
      k == 2 && q[1] == "value" { order[++ne] = q[2] }
      k == 4 && q[1] == "value" { l[q[2], q[3]] = l[q[2], q[3]] (l[q[2], q[3]] == "" ? "" : ",") "\"" $3 "\"" }
      END {
        split("actions notActions dataActions notDataActions", nm, " ")
        for (j = 1; j <= ne; j++) {
          o = "{"
          for (x = 1; x <= 4; x++) o = o (x > 1 ? "," : "") "\"" nm[x] "\":[" l[order[j], nm[x]] "]"
          print o "}"
        }
      }' "$T/permissions" >"$T/permpart"
    PERM_SET=1
    E_SET=
  fi
fi
