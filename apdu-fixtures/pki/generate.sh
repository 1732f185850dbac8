#!/usr/bin/env bash
# Regenerates apdu-fixtures/pki/ and apdu-fixtures/cards/ (test-only data, no real person, no real key).
#
#   apdu-fixtures/pki/generate.sh              reuse existing *.pem keys, rebuild everything else
#   apdu-fixtures/pki/generate.sh --new-keys   also throw away and regenerate every RSA key
#   apdu-fixtures/pki/generate.sh --check      only run the self-check on the committed files
#
# With the keys reused, a rerun reproduces the committed files byte for byte: all dates are fixed
# (openssl ca -startdate/-enddate, -crl_lastupdate/-crl_nextupdate), serials are fixed, and RSA
# PKCS#1 v1.5 signatures are deterministic.
#
# Tools: bash, openssl (CLI, 3.x) for every key, certificate, CRL and signature; python3 (standard
# library only) for the byte layout of the card files, TLVs, PNGs and the PGM face drawing;
# opj_compress (Debian libopenjp2-tools) to turn the PGM into JPEG 2000 (only needed when a card's
# face.jp2 does not exist yet). The script ends with a self-check and exits non-zero if any check fails.
set -euo pipefail
export LC_ALL=C.UTF-8

PKI="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$PKI")"
CARDS="$ROOT/cards"
NEW_KEYS=0
CHECK_ONLY=0
case "${1:-}" in
  "") ;;
  --new-keys) NEW_KEYS=1 ;;
  --check) CHECK_ONLY=1 ;;
  *) echo "usage: $0 [--new-keys | --check]" >&2; exit 2 ;;
esac

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$PKI/extra" "$PKI/cv" "$CARDS"

log() { printf '[generate] %s\n' "$*" >&2; }
die() { printf '[generate] FAIL: %s\n' "$*" >&2; exit 1; }

# ----------------------------------------------------------------------------------------------
# Fixed dates and constants
# ----------------------------------------------------------------------------------------------
# Fixture reference date: every expiry-dependent test verifies at this instant (see README
# "Reference date"). All three root generations, the CRLs and cards 00-05, 08, 09 are valid then;
# 06 expired less than 3 months before it, 07 more than 3 months before it.
REFERENCE_DATE=2025-06-01T00:00:00Z
# Root generations: same subject DN per purpose, a new key each, 10-year validity ending 14:59:59Z
# (= 23:59:59 JST, as the public J-LIS roots do). 2015 and 2023 dates are those of the public
# J-LIS roots; the 2019 start date is an assumption (no public source seen).
GENS="2015 2019 2023"
declare -A GEN_START=([2015]=20151020030813Z [2019]=20190701000000Z [2023]=20230716010104Z)
declare -A GEN_END=([2015]=20251019145959Z [2019]=20290630145959Z [2023]=20330715145959Z)
declare -A AUTH_ROOT_SERIAL=([2015]=01 [2019]=0191 [2023]=0231)
declare -A SIGN_ROOT_SERIAL=([2015]=02 [2019]=0192 [2023]=0232)
OTHER_ROOT_START=20140101000000Z; OTHER_ROOT_END=20491231235959Z
OCSP_START=20230801000000Z; OCSP_END=20330715145959Z
EE_START=20250101000000Z;   EE_END=20301231145959Z
EXPIRED_START=20150101000000Z;  EXPIRED_END=20201231235959Z
FUTURE_START=20400101000000Z;   FUTURE_END=20451231235959Z
CRL_LAST=20241101000000Z;   CRL_NEXT=20361231000000Z
REVOKED_AT=241001000000Z
OCSP_URL=http://127.0.0.1:18888/
CRL_BASE=http://127.0.0.1:18889
HTTP_GEN=2023   # the card with HTTP pointers (00-ordinary) and the OCSP responder are under this one
AUTH_POLICY=1.2.392.200149.8.5.1.3.30
SIGN_POLICY=1.2.392.200149.8.5.1.1.20
# Our own test organisation: same DN shape as J-LIS's (C, O, OU purpose, OU operator), names that
# cannot be mistaken for J-LIS's production (O=JPKI) or test (O=JPKI-TEST) hierarchies.
ORG="jpki-linux fixture"
OPERATOR_OU="jpki-linux test data (not J-LIS)"
AUTH_ROOT_SUBJ="/C=JP/O=$ORG/OU=JPKI for user authentication/OU=$OPERATOR_OU"
SIGN_ROOT_SUBJ="/C=JP/O=$ORG/OU=JPKI for digital signature/OU=$OPERATOR_OU"
# The DN as used inside extensions (openssl config syntax, comma separated, in DN order)
AUTH_DIRNAME_SECT=dn_auth_root
SIGN_DIRNAME_SECT=dn_sign_root
OTHER_ROOT_SUBJ="/C=JP/O=OTHER-TEST/OU=Untrusted test root"

if [[ $CHECK_ONLY == 0 ]]; then
# ----------------------------------------------------------------------------------------------
# Keys (reused unless --new-keys)
# ----------------------------------------------------------------------------------------------
if [[ $NEW_KEYS == 1 ]]; then
  log "removing all test keys"
  find "$PKI" "$CARDS" -name '*.pem' \( -name '*test-key.pem' -o -name '*key.test.pem' \) -delete
fi
newkey() { # path
  if [[ ! -s "$1" ]]; then
    mkdir -p "$(dirname "$1")"
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -pkeyopt rsa_keygen_pubexp:65537 \
      -out "$1" 2>/dev/null
  fi
}
pubkey() { openssl pkey -in "$1" -pubout -out "$2"; } # key, pub out

for g in $GENS; do newkey "$PKI/auth-root-$g.test-key.pem"; newkey "$PKI/sign-root-$g.test-key.pem"; done
newkey "$PKI/ocsp-signer.test-key.pem"
for k in expired-auth not-yet-valid-auth other-root other-ee wrong-keyusage-auth wrong-policy-auth \
         same-serial-2015-auth revoked-2015-auth forged-generation-auth same-serial-2019-auth; do
  newkey "$PKI/extra/$k.test-key.pem"
done
for k in text-cv-issuer visual-cv-issuer; do
  newkey "$PKI/cv/$k.test-key.pem"
  pubkey "$PKI/cv/$k.test-key.pem" "$PKI/cv/$k.pub.pem"
done

fi  # CHECK_ONLY (keys)
# ----------------------------------------------------------------------------------------------
# openssl ca configuration (one config, the CA is chosen by environment variables)
# ----------------------------------------------------------------------------------------------
cat > "$WORK/ca.cnf" <<'EOF'
[ ca ]
default_ca = ca_any
[ ca_any ]
dir             = $ENV::CA_DIR
database        = $dir/index.txt
serial          = $dir/serial
crlnumber       = $dir/crlnumber
new_certs_dir   = $dir/new
certificate     = $ENV::CA_CERT
private_key     = $ENV::CA_KEY
default_md      = sha256
policy          = policy_any
unique_subject  = no
email_in_dn     = no
copy_extensions = none
preserve        = yes
string_mask     = utf8only
[ policy_any ]
countryName            = optional
localityName           = optional
organizationName       = optional
organizationalUnitName = optional
commonName             = optional
[ ext_crl ]
authorityKeyIdentifier = keyid
EOF
cat > "$WORK/req.cnf" <<'EOF'
[ req ]
distinguished_name = req_dn
string_mask        = utf8only
utf8               = yes
prompt             = no
[ req_dn ]
CN = placeholder
EOF

cat > "$WORK/ext.cnf" <<EOF
# Roots as J-LIS issues them (public 2015/2023 roots): no AKI, a subjectAltName DirName and a CRL
# distribution point that is a DirName only (no URL).
[ ext_root_auth ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = none
subjectAltName         = dirName:san_auth_root
crlDistributionPoints  = crldp_auth
[ ext_root_sign ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = none
subjectAltName         = dirName:san_sign_root
crlDistributionPoints  = crldp_sign
[ ext_root ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = none
[ crldp_auth ]
fullname = dirName:dn_auth_root
[ crldp_sign ]
fullname = dirName:dn_sign_root
[ dn_auth_root ]
C      = JP
O      = $ORG
0.OU   = JPKI for user authentication
1.OU   = $OPERATOR_OU
[ dn_sign_root ]
C      = JP
O      = $ORG
0.OU   = JPKI for digital signature
1.OU   = $OPERATOR_OU
[ san_auth_root ]
C      = JP
O      = $ORG service
0.OU   = $ORG user authentication
1.OU   = $OPERATOR_OU
[ san_sign_root ]
C      = JP
O      = $ORG service
0.OU   = $ORG digital signature
1.OU   = $OPERATOR_OU
# End-entity auth certificate as issued: DirName CRL DP, no AIA.
[ ext_auth_ee ]
keyUsage               = critical, digitalSignature
certificatePolicies    = $AUTH_POLICY
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
crlDistributionPoints  = crldp_auth
# The one card with HTTP pointers (CRL URL + OCSP AIA), for those code paths.
[ ext_auth_ee_http ]
keyUsage               = critical, digitalSignature
certificatePolicies    = $AUTH_POLICY
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
crlDistributionPoints  = URI:$CRL_BASE/auth-root-$HTTP_GEN.crl
authorityInfoAccess    = OCSP;URI:$OCSP_URL
[ ext_ocsp ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = critical, OCSPSigning
noCheck                = ignored
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
[ ext_wrong_ku ]
keyUsage               = critical, keyEncipherment, dataEncipherment
certificatePolicies    = $AUTH_POLICY
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
crlDistributionPoints  = crldp_auth
[ ext_wrong_policy ]
keyUsage               = critical, digitalSignature
certificatePolicies    = 1.2.392.200149.8.5.1.99.99
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
crlDistributionPoints  = crldp_auth
[ ext_other_ee ]
keyUsage               = critical, digitalSignature
certificatePolicies    = $AUTH_POLICY
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
[ ext_crl ]
authorityKeyIdentifier = keyid
EOF

newca() { # name
  local d="$WORK/ca-$1"
  mkdir -p "$d/new"
  : > "$d/index.txt"
  echo "unique_subject = no" > "$d/index.txt.attr"
  echo 01 > "$d/crlnumber"
}
for g in $GENS; do newca "auth-root-$g"; newca "sign-root-$g"; done
newca other; newca selfsign; newca forged

# issue <ca> <serial-hex> <subject> <ext-section> <key> <start> <end> <out.pem> [extfile]
#   ca: auth-root-<gen> | sign-root-<gen> | other | selfsign | forged
issue() {
  local ca=$1 serial=$2 subj=$3 ext=$4 key=$5 start=$6 end=$7 out=$8 extfile=${9:-$WORK/ext.cnf}
  local d="$WORK/ca-$ca" csr="$WORK/req-$serial.csr"
  openssl req -new -config "$WORK/req.cnf" -key "$key" -subj "$subj" -utf8 -out "$csr"
  echo "$serial" > "$d/serial"
  local cacert cakey extra=()
  case $ca in
    auth-root-*|sign-root-*) cacert=$PKI/$ca.pem; cakey=$PKI/$ca.test-key.pem ;;
    other) cacert=$PKI/extra/other-root.pem; cakey=$PKI/extra/other-root.test-key.pem ;;
    forged) cacert=$WORK/forged-ca.pem; cakey=$PKI/auth-root-2015.test-key.pem ;;
    selfsign) cacert=/dev/null; cakey=$key; extra=(-selfsign) ;;
    *) die "unknown CA $ca" ;;
  esac
  [[ -n ${ISSUE_MD:-} ]] && extra+=(-md "$ISSUE_MD")   # the ECDSA stand-in signs with SHA-384
  CA_DIR=$d CA_CERT=$cacert CA_KEY=$cakey openssl ca -config "$WORK/ca.cnf" -batch -notext -utf8 \
    -preserveDN "${extra[@]}" -keyfile "$cakey" -in "$csr" -subj "$subj" -startdate "$start" \
    -enddate "$end" -extfile "$extfile" -extensions "$ext" -out "$WORK/out.pem" 2>"$WORK/ca.log" \
    || { cat "$WORK/ca.log" >&2; die "openssl ca failed for $out"; }
  openssl x509 -in "$WORK/out.pem" -out "$out"
  openssl x509 -in "$out" -outform DER -out "${out%.pem}.der"
}

if [[ $CHECK_ONLY == 0 ]]; then
# ----------------------------------------------------------------------------------------------
# Roots, OCSP signer, extra (negative) certificates
# ----------------------------------------------------------------------------------------------
log "roots (generations: $GENS)"
for g in $GENS; do
  issue selfsign "${AUTH_ROOT_SERIAL[$g]}" "$AUTH_ROOT_SUBJ" ext_root_auth "$PKI/auth-root-$g.test-key.pem" \
    "${GEN_START[$g]}" "${GEN_END[$g]}" "$PKI/auth-root-$g.pem"
  issue selfsign "${SIGN_ROOT_SERIAL[$g]}" "$SIGN_ROOT_SUBJ" ext_root_sign "$PKI/sign-root-$g.test-key.pem" \
    "${GEN_START[$g]}" "${GEN_END[$g]}" "$PKI/sign-root-$g.pem"
done
issue selfsign 03 "$OTHER_ROOT_SUBJ" ext_root "$PKI/extra/other-root.test-key.pem" $OTHER_ROOT_START $OTHER_ROOT_END "$PKI/extra/other-root.pem"
# A CA certificate that exists only here: the 2019 auth root's DN and SKI, but the 2015 root's key.
# What it issues claims generation 2019 (AKI) and is signed by the 2015 key.
SKI_2019=$(openssl x509 -in "$PKI/auth-root-2019.pem" -noout -ext subjectKeyIdentifier | tail -1 | tr -d ' :')
printf '[ ext_forged ]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = %s\nauthorityKeyIdentifier = none\n' \
  "$SKI_2019" > "$WORK/forged.cnf"
issue selfsign 0F "$AUTH_ROOT_SUBJ" ext_forged "$PKI/auth-root-2015.test-key.pem" \
  "${GEN_START[2019]}" "${GEN_END[2019]}" "$WORK/forged-ca.pem" "$WORK/forged.cnf"

log "OCSP signer"
issue "auth-root-$HTTP_GEN" 0100 "/C=JP/O=$ORG/OU=JPKI for user authentication/CN=$ORG OCSP Responder" ext_ocsp \
  "$PKI/ocsp-signer.test-key.pem" $OCSP_START $OCSP_END "$PKI/ocsp-signer.pem"
rm -f "$PKI/ocsp-signer.der"   # the format lists only the PEM

log "extra certificates"
X=$PKI/extra
A23=auth-root-2023
issue $A23 2001 "/C=JP/CN=EXPIRED000TESTAUTH0000A" ext_auth_ee "$X/expired-auth.test-key.pem" \
  $EXPIRED_START $EXPIRED_END "$X/expired-auth.pem"
issue $A23 2002 "/C=JP/CN=NOTYETVALIDTESTAUTH000A" ext_auth_ee "$X/not-yet-valid-auth.test-key.pem" \
  $FUTURE_START $FUTURE_END "$X/not-yet-valid-auth.pem"
issue $A23 2003 "/C=JP/CN=WRONGKU0000TESTAUTH000A" ext_wrong_ku "$X/wrong-keyusage-auth.test-key.pem" \
  $EE_START $EE_END "$X/wrong-keyusage-auth.pem"
issue $A23 2004 "/C=JP/CN=WRONGPOLICYTESTAUTH000A" ext_wrong_policy "$X/wrong-policy-auth.test-key.pem" \
  $EE_START $EE_END "$X/wrong-policy-auth.pem"
issue other 2005 "/C=JP/CN=OTHERROOT00TESTAUTH000A" ext_other_ee "$X/other-ee.test-key.pem" \
  $EE_START $EE_END "$X/other-ee.pem"
# Same serial as 04-revoked's auth certificate (1041, revoked by the 2023 CRL), under 2015: good.
issue auth-root-2015 1041 "/C=JP/CN=SAMESERIAL2015AUTH0000A" ext_auth_ee "$X/same-serial-2015-auth.test-key.pem" \
  20200801000000Z 20250731145959Z "$X/same-serial-2015-auth.pem"
# Same serial as 00-ordinary's auth certificate (1001, good under 2023), under 2015: revoked by the
# 2015 CRL. A verifier that took the 2015 CRL for 00-ordinary would call 00-ordinary revoked.
issue auth-root-2015 1001 "/C=JP/CN=REVOKED2015TESTAUTH000A" ext_auth_ee "$X/revoked-2015-auth.test-key.pem" \
  20200801000000Z 20250731145959Z "$X/revoked-2015-auth.pem"
# Same serial as 00-ordinary's auth certificate (1001), under 2019, good and valid until 2029: with
# its key it makes a second card with 00-ordinary's serial (registry keys must tell them apart).
issue auth-root-2019 1001 "/C=JP/CN=SAMESERIAL2019AUTH0000A" ext_auth_ee "$X/same-serial-2019-auth.test-key.pem" \
  20240601010000Z 20290601145959Z "$X/same-serial-2019-auth.pem"
# Claims generation 2019 (AKI = the 2019 root's SKI, issuer DN shared by all generations) but is
# signed with the 2015 key.
issue forged 2006 "/C=JP/CN=FORGEDGENERATIONAUTH00A" ext_auth_ee "$X/forged-generation-auth.test-key.pem" \
  $EE_START $EE_END "$X/forged-generation-auth.pem"

fi  # CHECK_ONLY (roots, extras)
# ----------------------------------------------------------------------------------------------
# Card specifications (single source of truth for every card's identity data)
# ----------------------------------------------------------------------------------------------
cat > "$WORK/cards.py" <<'PY'
# All values are invented test data. PINs are demo values for tests only.
CARDS = [
  dict(name="00-ordinary", description="ordinary card: all PINs at full tries, certificates valid",
       atr="3BDA13FF8131FB468012392F31C173C601C03B",
       nameText="山田　太郎", address="東京都千代田区千代田試験町一丁目２番３号",
       pref="Tokyo-to", city="Chiyoda-ku", muni="13101",
       birth="19800217", sex="1", expiry="20350217", gen="2023", issued="20250310", http=True, securityCode="2285", myNumberBase="12345678901",
       pins=dict(auth="1234", sign="ABC123", text="1234", common="1234"), tries={}, revoked=False),
  dict(name="01-kanji-variant",
       description="name with variant kanji 髙/﨑/邊 (U+3000 between family and given name), address containing U+3000",
       atr="3BE000FF8131FE4514",
       nameText="髙橋　﨑邊", address="大阪府大阪市北区梅田試験一丁目４番５号　テストハイツ４０１号室",
       pref="Osaka-fu", city="Osaka-shi Kita-ku", muni="27127",
       birth="19921103", sex="2", expiry="20341103", gen="2023", issued="20250120", securityCode="4711", myNumberBase="27127000451",
       pins=dict(auth="5678", sign="XYZ789", text="5678", common="5678"), tries={}, revoked=False),
  dict(name="02-same-name-a",
       description="same-name pair, card A: identical name to 03-same-name-b, different birth date and My Number",
       atr="3BC5FF8131FB458073C6010000",
       nameText="佐藤　花子", address="神奈川県横浜市中区試験通一丁目１番１号",
       pref="Kanagawa-ken", city="Yokohama-shi Naka-ku", muni="14104",
       birth="19750401", sex="2", expiry="20350401", gen="2023", issued="20250415", securityCode="1357", myNumberBase="14104197504",
       pins=dict(auth="1111", sign="SATOA1", text="1111", common="1111"), tries={}, revoked=False),
  dict(name="03-same-name-b",
       description="same-name pair, card B: identical name to 02-same-name-a, different birth date and My Number",
       atr="3BF59100FF918171FE400042000100D1D6",
       nameText="佐藤　花子", address="神奈川県横浜市中区試験通二丁目２番２号",
       pref="Kanagawa-ken", city="Yokohama-shi Naka-ku", muni="14104",
       birth="20030820", sex="2", expiry="20330820", gen="2019", issued="20230905", securityCode="2468", myNumberBase="14104200308",
       pins=dict(auth="2222", sign="SATOB2", text="2222", common="2222"), tries={}, revoked=False),
  dict(name="04-revoked",
       description="auth certificate revoked: listed in the 2023 auth CRL and marked R in ocsp-index.txt",
       atr="3BF59100FF918171FE4000420001B3A115",
       nameText="鈴木　一郎", address="埼玉県さいたま市大宮区試験町三丁目３番３号",
       pref="Saitama-ken", city="Saitama-shi Omiya-ku", muni="11103",
       birth="20010615", sex="1", expiry="20330615", gen="2023", issued="20240201", securityCode="9090", myNumberBase="11103200106",
       pins=dict(auth="9876", sign="REVOKE1", text="9876", common="9876"), tries={}, revoked=True),
  dict(name="05-nearly-blocked",
       description="auth, sign and text PINs have 1 try left at power-up (others normal)",
       atr="3BDA13FF8131FB468012392F31C173C601C03B",
       nameText="田中　次郎", address="愛知県名古屋市中区試験町四丁目４番４号",
       pref="Aichi-ken", city="Nagoya-shi Naka-ku", muni="23106",
       birth="19600120", sex="1", expiry="20340120", gen="2023", issued="20240603", securityCode="8642", myNumberBase="23106196001",
       pins=dict(auth="2468", sign="NEAR88", text="2468", common="2468"),
       tries=dict(auth=1, sign=1, text=1), revoked=False),
  dict(name="06-expired-in-grace",
       description="auth and sign certificates expired 2025-04-20, 42 days before the reference date 2025-06-01 (within the 3-month grace); 2019 generation",
       atr="3BDA13FF8131FB468012392F31C173C601C03B",
       nameText="伊藤　恵子", address="千葉県千葉市中央区試験町五丁目５番５号",
       pref="Chiba-ken", city="Chiba-shi Chuo-ku", muni="12101",
       birth="19900420", sex="2", expiry="20300420", gen="2019", issued="20200601", securityCode="3141", myNumberBase="12101199004",
       pins=dict(auth="3141", sign="GRACE06", text="3141", common="3141"), tries={}, revoked=False),
  dict(name="07-expired-past-grace",
       description="auth and sign certificates expired 2024-12-05, about 6 months before the reference date 2025-06-01 (past the 3-month grace); 2019 generation",
       atr="3BC5FF8131FB458073C6010000",
       nameText="渡辺　健", address="静岡県静岡市葵区試験町六丁目６番６号",
       pref="Shizuoka-ken", city="Shizuoka-shi Aoi-ku", muni="22101",
       birth="19851205", sex="1", expiry="20291205", gen="2019", issued="20200115", securityCode="5926", myNumberBase="22101198512",
       pins=dict(auth="5926", sign="PAST07", text="5926", common="5926"), tries={}, revoked=False),
  dict(name="08-face-auth-card",
       description="顔認証マイナンバーカード: issued without any PIN and without a signing certificate (auth certificate only); 2023 generation",
       atr="3BF59100FF918171FE400042000100D1D6",
       nameText="中村　ミツ", address="京都府京都市上京区試験町七丁目７番７号",
       pref="Kyoto-fu", city="Kyoto-shi Kamigyo-ku", muni="26102",
       birth="19480303", sex="2", expiry="20340303", gen="2023", issued="20241001", securityCode="7788", myNumberBase="26102194803",
       pins={}, tries={}, revoked=False, faceAuth=True),
  dict(name="09-generation-2015",
       description="ordinary card issued under the oldest (2015) root generation; certificates valid to 2025-09-30",
       atr="3BE000FF8131FE4514",
       nameText="小林　誠", address="北海道札幌市中央区試験町八丁目８番８号",
       pref="Hokkaido", city="Sapporo-shi Chuo-ku", muni="01101",
       birth="19700930", sex="1", expiry="20300930", gen="2015", issued="20201005", securityCode="6060", myNumberBase="01101197009",
       pins=dict(auth="6060", sign="GEN2015", text="6060", common="6060"), tries={}, revoked=False),
]

# Smartphone JPKI (スマホ用電子証明書): the JPKI AP only (no text, visual, common or juki AP), its own
# key pairs, certificates and serials, the same person as the card `holder` (its sign certificate
# carries the holder's SAN). `index` continues the card numbering (serials 0x1000 + 0x10*index + 1/2).
# Token labels from jpki/myna (TokenType); ATRs are invented in the PC/SC part 3 contactless form
# (3B 8n 80 01 + historical bytes + TCK) — no public source gives a phone's ATR (assumption, README).
# `certAfterPIN`: Android's auth certificate (EF 000A) is read only after the auth PIN (jpki/myna
# issue 6); the iPhone's is free (jpki/myna verifies the PIN first only for JPKIAPGPSETOKEN).
PHONES = [
  dict(name="20-android-phone",
       description="Android smartphone JPKI (JPKIAPGPSETOKEN) of 00-ordinary's holder: JPKI AP only, own certificates; the auth certificate needs the auth PIN first",
       atr="3B8F800180318065B0850300EF120FFF82900073", token="JPKIAPGPSETOKEN", holder="00-ordinary",
       index=20, issued="20250415", pins=dict(auth="4321", sign="PHONE20"), certAfterPIN=True),
  dict(name="21-iphone",
       description="iPhone smartphone JPKI (JPKIAPIOSTOKEN) of 00-ordinary's holder: JPKI AP only, own certificates, auth certificate free to read",
       atr="3B888001000000000000000009", token="JPKIAPIOSTOKEN", holder="00-ordinary",
       index=21, issued="20250501", pins=dict(auth="8765", sign="PHONE21"), certAfterPIN=False),
]

def phone_derived(p: dict) -> dict:
    """A phone's serials, opaque CNs and validity: its certificates end with the holder's card's
    (5th birthday after the card's issue) — the card and the phone lapse together."""
    import hashlib
    holder = next(c for c in CARDS if c["name"] == p["holder"])
    i = p["index"]
    def opaque(salt):
        h = hashlib.sha256((p["name"] + salt).encode()).hexdigest().upper()
        return h[:6] + "E9" + ("AGCIEG" if salt == "auth" else "SGNIEG") + "1322" + f"{i:04d}" + "A"
    return dict(authSerial=f"{0x1000 + 0x10 * i + 1:04X}", signSerial=f"{0x1000 + 0x10 * i + 2:04X}",
                authCN=opaque("auth"), signCN=opaque("sign"), gen=holder["gen"],
                pref=holder["pref"], city=holder["city"],
                eeStart=p["issued"] + "010000Z",
                eeEnd=nth_birthday_after(holder["birth"], holder["issued"], 5) + "145959Z")

def nth_birthday_after(birth: str, issued: str, n: int) -> str:
    """YYYYMMDD of the n-th birthday strictly after the issue date (29 Feb -> 28 Feb in other years)."""
    import datetime
    b, i = datetime.date(int(birth[:4]), int(birth[4:6]), int(birth[6:])), datetime.date(int(issued[:4]), int(issued[4:6]), int(issued[6:]))
    def on(y):
        try: return datetime.date(y, b.month, b.day)
        except ValueError: return datetime.date(y, 2, 28)
    y = i.year if on(i.year) > i else i.year + 1
    return on(y + n - 1).strftime("%Y%m%d")

GEN_START = {"2015": "20151020", "2019": "20190701", "2023": "20230716"}
GEN_END = {"2015": "20251019", "2019": "20290630", "2023": "20330715"}
for _c in CARDS:
    # Card (physical) expiry: 10th birthday after issue for adults; certificates: 5th birthday.
    assert _c["expiry"] == nth_birthday_after(_c["birth"], _c["issued"], 10), (_c["name"], nth_birthday_after(_c["birth"], _c["issued"], 10))
    assert GEN_START[_c["gen"]] <= _c["issued"] and nth_birthday_after(_c["birth"], _c["issued"], 5) <= GEN_END[_c["gen"]], _c["name"]

def my_number_check_digit(first11: str) -> int:
    """Check digit of a 12-digit My Number (個人番号), from its first 11 digits.
    P_n = n-th digit counted from the right-most non-check digit (n = 1..11),
    Q_n = n+1 for n <= 6, n-5 for n >= 7; r = sum(P_n*Q_n) mod 11; check = 0 if r <= 1 else 11-r."""
    assert len(first11) == 11 and first11.isdigit()
    s = 0
    for n in range(1, 12):
        p = int(first11[11 - n])
        q = n + 1 if n <= 6 else n - 5
        s += p * q
    r = s % 11
    return 0 if r <= 1 else 11 - r

def my_number_valid(num: str) -> bool:
    return len(num) == 12 and num.isdigit() and my_number_check_digit(num[:11]) == int(num[11])

ERAS = [((2019, 5, 1), 5, 2019), ((1989, 1, 8), 4, 1989), ((1926, 12, 25), 3, 1926),
        ((1912, 7, 30), 2, 1912), ((1868, 1, 25), 1, 1868)]

def era(date: str):
    """(era digit 1..5 = Meiji..Reiwa, era year) of a YYYYMMDD date."""
    y, m, d = int(date[:4]), int(date[4:6]), int(date[6:])
    for start, digit, first in ERAS:
        if (y, m, d) >= start:
            return digit, y - first + 1
    raise ValueError("before Meiji: " + date)

def era_yymmdd(date: str) -> str:
    _, ey = era(date)
    assert ey <= 99
    return f"{ey:02d}{date[4:6]}{date[6:]}"

def derived(c: dict, index: int) -> dict:
    """Values computed from the spec: My Number, PIN values, serials, opaque CNs."""
    import hashlib
    mn = c["myNumberBase"] + str(my_number_check_digit(c["myNumberBase"]))
    def opaque(salt):
        h = hashlib.sha256((c["name"] + salt).encode()).hexdigest().upper()
        return h[:6] + "E9" + ("AGCIEG" if salt == "auth" else "SGNIEG") + "1322" + f"{index:04d}" + "A"  # 23 chars
    return dict(
        myNumber=mn,
        textB=era_yymmdd(c["birth"]) + c["expiry"][:4] + c["securityCode"],
        visualBirth=era_yymmdd(c["birth"]),
        eraDigit=era(c["birth"])[0],
        authSerial=f"{0x1000 + 0x10 * index + 1:04X}",
        signSerial=f"{0x1000 + 0x10 * index + 2:04X}",
        authCN=opaque("auth"), signCN=opaque("sign"),
        cardSerial=c["muni"] + "25" + f"{index + 1:08d}",
        eeStart=c["issued"] + "010000Z",                                       # 10:00 JST on the issue day
        eeEnd=nth_birthday_after(c["birth"], c["issued"], 5) + "145959Z",     # 23:59:59 JST on the 5th birthday
        faceAuth=bool(c.get("faceAuth")),
    )
PY

# Self-test of the My Number check digit, then emit per-card issuance data (TSV) and SAN sections.
python3 - "$WORK" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from cards import *
work = sys.argv[1]
# Check digit self-test: a known-good vector computed by hand from the rule, and detection of
# every single-digit change in every card's number.
assert my_number_check_digit("12345678901") == 8, my_number_check_digit("12345678901")
for i, c in enumerate(CARDS):
    d = derived(c, i)
    mn = d["myNumber"]
    assert my_number_valid(mn), mn
    for pos in range(12):
        for digit in "0123456789":
            if digit != mn[pos]:
                assert not my_number_valid(mn[:pos] + digit + mn[pos + 1:]), (mn, pos, digit)
assert len({derived(c, i)["myNumber"] for i, c in enumerate(CARDS)}) == len(CARDS)

def flags(text):
    # Test convention: one digit per character, "1" where the character is a variant kanji
    # that a JIS X 0208 system would show as a substitute, "0" otherwise.
    return "".join("1" if ch in "髙﨑邊" else "0" for ch in text)

with open(f"{work}/cards.tsv", "w") as tsv, open(f"{work}/ext-cards.cnf", "w") as ext:
    ext.write(open(f"{work}/ext.cnf").read())
    for i, c in enumerate(CARDS):
        d = derived(c, i)
        tsv.write("\t".join([c["name"], d["authSerial"], d["signSerial"], d["authCN"], d["signCN"],
                             c["pref"], c["city"], "1" if c["revoked"] else "0", c["gen"],
                             "1" if c.get("http") else "0", "1" if d["faceAuth"] else "0",
                             d["eeStart"], d["eeEnd"]]) + "\n")
        sec = "san_" + c["name"].replace("-", "_")
        ext.write(f"""
[ ext_sign_{sec} ]
keyUsage               = critical, digitalSignature, nonRepudiation
certificatePolicies    = 1.2.392.200149.8.5.1.1.20
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
crlDistributionPoints  = {"URI:http://127.0.0.1:18889/sign-root-" + c["gen"] + ".crl" if c.get("http") else "crldp_sign"}
subjectAltName         = @{sec}
[ {sec} ]
otherName.1 = 1.2.392.200149.8.5.5.1;FORMAT:UTF8,UTF8:{c['nameText']}
otherName.2 = 1.2.392.200149.8.5.5.2;FORMAT:UTF8,UTF8:{flags(c['nameText'])}
otherName.3 = 1.2.392.200149.8.5.5.3;FORMAT:UTF8,UTF8:{c['sex']}
otherName.4 = 1.2.392.200149.8.5.5.4;FORMAT:UTF8,UTF8:{d['eraDigit']}{c['birth']}
otherName.5 = 1.2.392.200149.8.5.5.5;FORMAT:UTF8,UTF8:{c['address']}
otherName.6 = 1.2.392.200149.8.5.5.6;FORMAT:UTF8,UTF8:{flags(c['address'])}
""")
with open(f"{work}/phones.tsv", "w") as tsv:
    for p in PHONES:
        d = phone_derived(p)
        # same columns as cards.tsv (revoked=0, http=0, face=0), then the holder's SAN section
        tsv.write("\t".join([p["name"], d["authSerial"], d["signSerial"], d["authCN"], d["signCN"],
                             d["pref"], d["city"], "0", d["gen"], "0", "0", d["eeStart"], d["eeEnd"],
                             "san_" + p["holder"].replace("-", "_")]) + "\n")
print("my number check digit self-test ok", file=sys.stderr)
PY

if [[ $CHECK_ONLY == 0 ]]; then
# ----------------------------------------------------------------------------------------------
# End-entity certificates of every card
# ----------------------------------------------------------------------------------------------
REVOKED_SERIAL=""
while IFS=$'\t' read -r name aser sser acn scn pref city revoked gen http face eestart eeend; do
  log "card $name: certificates (generation $gen, valid $eestart - $eeend)"
  J="$CARDS/$name/jpki"
  mkdir -p "$J" "$CARDS/$name/text" "$CARDS/$name/visual" "$CARDS/$name/common"
  newkey "$J/auth-key.test.pem"
  newkey "$CARDS/$name/text/ap-key.test.pem"; newkey "$CARDS/$name/visual/ap-key.test.pem"
  ext=ext_auth_ee; [[ $http == 1 ]] && ext=ext_auth_ee_http
  issue "auth-root-$gen" "$aser" "/C=JP/CN=$acn" $ext "$J/auth-key.test.pem" "$eestart" "$eeend" "$WORK/auth.pem"
  cp "$WORK/auth.der" "$J/000A.der"
  cp "$PKI/auth-root-$gen.der" "$J/000B.der"
  if [[ $face == 1 ]]; then
    # 顔認証マイナンバーカード: no signing certificate, no sign key, no sign CA certificate on the card.
    rm -f "$J/0001.der" "$J/0002.der" "$J/sign-key.test.pem"
  else
    newkey "$J/sign-key.test.pem"
    sec="san_${name//-/_}"
    issue "sign-root-$gen" "$sser" "/C=JP/L=$pref/L=$city/CN=$scn" "ext_sign_$sec" "$J/sign-key.test.pem" \
      "$eestart" "$eeend" "$WORK/sign.pem" "$WORK/ext-cards.cnf"
    cp "$WORK/sign.der" "$J/0001.der"
    cp "$PKI/sign-root-$gen.der" "$J/0002.der"
  fi
  [[ $revoked == 1 ]] && REVOKED_SERIAL=$aser
done < "$WORK/cards.tsv"
[[ -n $REVOKED_SERIAL ]] || die "no revoked card"
# Smartphones: JPKI AP only (auth + sign certificates and keys, their CA certificates).
while IFS=$'\t' read -r name aser sser acn scn pref city revoked gen http face eestart eeend sec; do
  log "phone $name: certificates (generation $gen, valid $eestart - $eeend)"
  J="$CARDS/$name/jpki"
  mkdir -p "$J"
  newkey "$J/auth-key.test.pem"; newkey "$J/sign-key.test.pem"
  issue "auth-root-$gen" "$aser" "/C=JP/CN=$acn" ext_auth_ee "$J/auth-key.test.pem" "$eestart" "$eeend" "$WORK/auth.pem"
  cp "$WORK/auth.der" "$J/000A.der"
  cp "$PKI/auth-root-$gen.der" "$J/000B.der"
  issue "sign-root-$gen" "$sser" "/C=JP/L=$pref/L=$city/CN=$scn" "ext_sign_$sec" "$J/sign-key.test.pem" \
    "$eestart" "$eeend" "$WORK/sign.pem" "$WORK/ext-cards.cnf"
  cp "$WORK/sign.der" "$J/0001.der"
  cp "$PKI/sign-root-$gen.der" "$J/0002.der"
done < "$WORK/phones.tsv"

# ----------------------------------------------------------------------------------------------
# Revocation, CRLs (one per root generation and purpose), OCSP index
# ----------------------------------------------------------------------------------------------
revoke() { # ca serial
  python3 - "$WORK/ca-$1/index.txt" "$2" "$REVOKED_AT" <<'PY'
import sys
path, serial, when = sys.argv[1:]
lines, hit = [], 0
for line in open(path):
    f = line.rstrip("\n").split("\t")
    if f[3] == serial:
        f[0], f[2], hit = "R", when + ",keyCompromise", hit + 1
    lines.append("\t".join(f))
assert hit == 1, "revoked serial not found in index"
open(path, "w").write("\n".join(lines) + "\n")
PY
}
log "revoking auth serial $REVOKED_SERIAL (2023) and 1001 (2015: extra/revoked-2015-auth); CRLs; OCSP index"
revoke auth-root-2023 "$REVOKED_SERIAL"
revoke auth-root-2015 1001
gencrl() { # ca (auth-root-<gen> | sign-root-<gen>)
  local d="$WORK/ca-$1"
  echo 01 > "$d/crlnumber"
  CA_DIR=$d CA_CERT=$PKI/$1.pem CA_KEY=$PKI/$1.test-key.pem openssl ca -config "$WORK/ca.cnf" \
    -gencrl -crl_lastupdate $CRL_LAST -crl_nextupdate $CRL_NEXT -crlexts ext_crl ${ISSUE_MD:+-md $ISSUE_MD} \
    -out "$PKI/$1.crl.pem" 2>"$WORK/crl.log" || { cat "$WORK/crl.log" >&2; die "gencrl $1"; }
  openssl crl -in "$PKI/$1.crl.pem" -outform DER -out "$PKI/$1.crl.der"
}
for g in $GENS; do gencrl "auth-root-$g"; gencrl "sign-root-$g"; done
cp "$WORK/ca-auth-root-$HTTP_GEN/index.txt" "$PKI/ocsp-index.txt"

# ----------------------------------------------------------------------------------------------
# Card files (EFs) — python assembles bytes, openssl makes every signature
# ----------------------------------------------------------------------------------------------
log "card files"
python3 - "$WORK" "$PKI" "$CARDS" <<'PY'
import hashlib, json, os, struct, subprocess, sys, zlib, shutil
work, pki, cards = sys.argv[1:]
sys.path.insert(0, work)
from cards import *

def run(args, data=None):
    return subprocess.run(args, input=data, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True).stdout

# ---- BER / TLV helpers (shortest definite length) ----
def ber_len(n):
    if n < 0x80: return bytes([n])
    if n < 0x100: return bytes([0x81, n])
    if n < 0x10000: return bytes([0x82]) + struct.pack(">H", n)
    raise ValueError(n)
def tlv(tag, value):
    t = tag.to_bytes(2 if tag > 0xFF else 1, "big")
    return t + ber_len(len(value)) + value

def with_offsets(outer, table_tag, fields):
    """outer { table_tag offsets(u16 BE from start of file to each field TLV), fields... }"""
    table_len = len(tlv(table_tag, bytes(2 * len(fields))))
    body_len = table_len + sum(map(len, fields))
    header_len = len(tlv(outer, bytes(body_len))) - body_len
    pos, offs = header_len + table_len, b""
    for f in fields:
        offs += struct.pack(">H", pos); pos += len(f)
    out = tlv(outer, tlv(table_tag, offs) + b"".join(fields))
    assert len(out) == pos
    return out

# ---- RSA helpers (openssl CLI) ----
def rsa_pub(key):
    """(e, n) big-endian bytes from a private key file, via PKCS#1 RSAPublicKey DER."""
    der = run(["openssl", "rsa", "-in", key, "-RSAPublicKey_out", "-outform", "DER"])
    def rd(b, i):
        tag, l = b[i], b[i + 1]; i += 2
        if l & 0x80:
            k = l & 0x7F; l = int.from_bytes(b[i:i + k], "big"); i += k
        return tag, b[i:i + l], i + l
    _, seq, _ = rd(der, 0)
    _, n, i = rd(seq, 0)
    _, e, _ = rd(seq, i)
    n = n.lstrip(b"\0"); e = e.lstrip(b"\0")
    assert len(n) == 256
    return e, n
def pub_9091(key):
    e, n = rsa_pub(key)
    return tlv(0x90, e) + tlv(0x91, n)
def sign_sha256(key, data):
    sig = run(["openssl", "dgst", "-sha256", "-sign", key], data)
    assert len(sig) == 256
    return sig
def sign_raw_pkcs1(key, data):
    # pkeyutl refuses inputs longer than 64 bytes ("looks too long to be a hash"); rsautl -sign
    # applies the same PKCS#1 v1.5 type-1 padding to the 115-byte DigestInfo as given.
    sig = run(["openssl", "rsautl", "-sign", "-pkcs", "-inkey", key], data)
    assert len(sig) == 256
    return sig
SHA256_DI_PREFIX = bytes.fromhex("300d060960864801650304020105000460")
def digest_info_96(h96):  # DigestInfo(sha256) whose OCTET STRING holds 96 bytes
    assert len(h96) == 96
    inner = bytes.fromhex("300d06096086480165030402010500") + b"\x04\x60" + h96
    return b"\x30" + ber_len(len(inner)) + inner
def H(b): return hashlib.sha256(b).digest()

def key_id(number):  # 16-byte key ID: 7 digits ‖ 08 05 ‖ "001" ‖ 4 zero bytes
    assert len(number) == 7 and number.isdigit()
    return number.encode() + b"\x08\x05" + b"001" + bytes(4)

def cv_cert(issuer_key, issuer_id, subject_id, subject_key):
    body = key_id(issuer_id) + key_id(subject_id) + pub_9091(subject_key)
    assert len(body) == 297
    out = tlv(0x7F21, tlv(0x5F4E, body) + tlv(0x5F37, sign_sha256(issuer_key, body)))
    assert out[:5] == bytes.fromhex("7F21820233"), out[:5].hex()
    return out

def filler(label, n):  # deterministic placeholder bytes (no meaning)
    out = b""
    while len(out) < n:
        out += H(label.encode() + len(out).to_bytes(4, "big"))
    return out[:n]

# ---- 1-bit PNG ----
def png_1bit(rows):
    """rows: list of lists of 0/1 (1 = black). Greyscale bit depth 1 (0 = black, 1 = white)."""
    h, w = len(rows), len(rows[0])
    raw = b""
    for r in rows:
        bits = [0 if v else 1 for v in r] + [1] * (-len(r) % 8)
        raw += b"\0" + bytes(int("".join(map(str, bits[i:i + 8])), 2) for i in range(0, len(bits), 8))
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))

DIGITS = {  # 5x7 font
  "0": ["01110","10001","10011","10101","11001","10001","01110"],
  "1": ["00100","01100","00100","00100","00100","00100","01110"],
  "2": ["01110","10001","00001","00010","00100","01000","11111"],
  "3": ["11110","00001","00001","01110","00001","00001","11110"],
  "4": ["00010","00110","01010","10010","11111","00010","00010"],
  "5": ["11111","10000","11110","00001","00001","10001","01110"],
  "6": ["00110","01000","10000","11110","10001","10001","01110"],
  "7": ["11111","00001","00010","00100","01000","01000","01000"],
  "8": ["01110","10001","10001","01110","10001","10001","01110"],
  "9": ["01110","10001","10001","01111","00001","00010","01100"],
}
def render(text, cell=12):
    """Digits and ASCII spaces from a 5x7 font; any other character becomes a deterministic
    12x12 block pattern derived from its code point (a stand-in glyph: no font rendering)."""
    h = cell
    cols = []
    for ch in text:
        if ch in DIGITS:
            g = [[0] * 8 for _ in range(h)]
            for y, row in enumerate(DIGITS[ch]):
                for x, v in enumerate(row):
                    g[y + 2][x + 1] = int(v)
            cols.append(g)
        elif ch in " \u3000":
            cols.append([[0] * (cell // 2 if ch == " " else cell) for _ in range(h)])
        else:
            bits = int.from_bytes(H(ch.encode()), "big")
            g = [[0] * cell for _ in range(h)]
            for y in range(1, h - 1):
                for x in range(1, cell - 1):
                    if y in (1, h - 2) or x in (1, cell - 2):
                        g[y][x] = 1
                    elif 3 <= y <= h - 4 and 3 <= x <= cell - 4:
                        g[y][x] = (bits >> ((y * cell + x) % 256)) & 1
            cols.append(g)
    return [sum((g[y] for g in cols), []) for y in range(h)]

# ---- face photo (PGM drawn here, JPEG 2000 via opj_compress) ----
def face_pgm(seed, w=96, hgt=120):
    s = H(seed.encode())
    tone, eye, mouth = 150 + s[0] % 60, 2 + s[1] % 3, 8 + s[2] % 10
    px = bytearray()
    for y in range(hgt):
        for x in range(w):
            v = 225 - y // 8                                     # background gradient
            if ((x - 48) / 30) ** 2 + ((y - 52) / 38) ** 2 <= 1:   # head
                v = tone
                if ((x - 36) ** 2 + (y - 45) ** 2) <= eye ** 2 or ((x - 60) ** 2 + (y - 45) ** 2) <= eye ** 2:
                    v = 30
                if abs(y - 72) <= 1 and abs(x - 48) <= mouth:
                    v = 60
                if abs(x - 48) <= 1 and 50 <= y <= 62:
                    v = tone - 40
            elif y >= 95 and abs(x - 48) <= 40:                   # shoulders
                v = 70
            px.append(max(0, min(255, v)))
    return b"P5\n%d %d\n255\n" % (w, hgt) + bytes(px)

def make_face(card_dir, seed):
    out = os.path.join(card_dir, "face.jp2")
    pgm = os.path.join(work, "face.pgm")
    open(pgm, "wb").write(face_pgm(seed))
    tmp = os.path.join(work, "face.jp2")
    if shutil.which("opj_compress"):
        subprocess.run(["opj_compress", "-i", pgm, "-o", tmp, "-r", "20"], check=True, stderr=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL)
        open(out, "wb").write(open(tmp, "rb").read())
    elif not os.path.exists(out):
        sys.exit("opj_compress missing (apt-get install libopenjp2-tools) and no existing face.jp2")
    jp2 = open(out, "rb").read()
    assert jp2[:12] == bytes.fromhex("0000000C6A5020200D0A870A"), "not a JP2 file"
    return jp2

TEXT_CV_ISSUER = os.path.join(pki, "cv", "text-cv-issuer.test-key.pem")
VISUAL_CV_ISSUER = os.path.join(pki, "cv", "visual-cv-issuer.test-key.pem")

for i, c in enumerate(CARDS):
    d = derived(c, i)
    base = os.path.join(cards, c["name"])
    def w(rel, data):
        open(os.path.join(base, rel), "wb").write(data)

    # --- JPKI AP ---
    w("jpki/0006.bin", b"JPKIAPICCTOKEN2".ljust(32, b" ") + bytes(128))
    # EF 0008: which keys exist (8F: auth and sign). A 顔認証マイナンバーカード has no sign key:
    # 00 8F 00 (an assumption, apdu-fixtures/README.md "Card states").
    w("jpki/0008.bin", bytes([0x00 if d["faceAuth"] else 0x8F, 0x8F, 0x00]))

    # --- text AP (券面入力補助AP) ---
    text_key = os.path.join(base, "text", "ap-key.test.pem")
    ef1 = b"\xFF\x10\x0C" + d["myNumber"].encode() + b"\xFF\xFF"
    assert len(ef1) == 17
    ef2 = with_offsets(0xFF20, 0xDF21, [tlv(0xDF22, c["nameText"].encode()), tlv(0xDF23, c["address"].encode()),
                                        tlv(0xDF24, c["birth"].encode()), tlv(0xDF25, c["sex"].encode())])
    df22_at = struct.unpack(">H", ef2[ef2.index(b"\xDF\x21") + 3:][:2])[0]
    df31 = tlv(0xDF31, H(ef1))
    df32 = tlv(0xDF32, H(ef2[df22_at:]))
    ef3 = tlv(0xFF30, df31 + df32 + tlv(0xDF33, sign_sha256(text_key, df31 + df32)))
    assert ef3[:5] == bytes.fromhex("FF3082014B")
    text_subject_id = "6" + c["muni"] + "3"
    ef4 = cv_cert(TEXT_CV_ISSUER, "6000033", text_subject_id, text_key)
    ef5 = tlv(0xFF40, tlv(0xDF41, bytes.fromhex("01030E01")) + tlv(0xDF42, key_id(text_subject_id))
              + tlv(0xDF43, filler("text-0005-" + c["name"], 128)))
    for n, b in [("0001", ef1), ("0002", ef2), ("0003", ef3), ("0004", ef4), ("0005", ef5)]:
        w(f"text/{n}.bin", b)

    # --- visual AP (券面事項確認AP) ---
    vis_key = os.path.join(base, "visual", "ap-key.test.pem")
    vpub = pub_9091(vis_key)
    jp2 = make_face(base, c["name"])
    f22, f23, f24 = tlv(0xDF22, c["birth"].encode()), tlv(0xDF23, c["sex"].encode()), tlv(0xDF24, vpub)
    f25, f26, f27 = tlv(0xDF25, png_1bit(render(c["nameText"]))), tlv(0xDF26, png_1bit(render(c["address"]))), tlv(0xDF27, jp2)
    di = digest_info_96(H(f22 + f23 + f24) + H(f25 + f26) + H(f27))
    f28 = tlv(0xDF28, sign_raw_pkcs1(vis_key, di))
    f29, f2a = tlv(0xDF29, c["expiry"].encode()), tlv(0xDF2A, png_1bit(render(c["securityCode"])))
    v2 = with_offsets(0xFF20, 0xDF21, [f22, f23, f24, f25, f26, f27, f28, f29, f2a])
    age_body = tlv(0xDF11, c["birth"].encode()) + tlv(0xDF12, vpub)
    v1 = tlv(0xFF10, age_body + tlv(0xDF13, sign_sha256(vis_key, age_body)))
    v3 = tlv(0xFF30, tlv(0xDF31, bytes.fromhex("06030E01")) + tlv(0xDF32, key_id("6000024"))
             + tlv(0xDF33, b"\x01") + tlv(0xDF34, c["muni"].encode())
             + tlv(0xDF35, key_id("6000024") + filler("visual-0003-" + c["name"], 256)))
    vis_subject_id = "6" + c["muni"] + "2"
    v4 = cv_cert(VISUAL_CV_ISSUER, "6000023", vis_subject_id, vis_key)
    mn_body = tlv(0xDF41, png_1bit(render(d["myNumber"]))) + tlv(0xDF42, vpub)
    v5 = tlv(0xFF40, mn_body + tlv(0xDF43, sign_sha256(vis_key, mn_body)))
    for n, b in [("0001", v1), ("0002", v2), ("0003", v3), ("0004", v4), ("0005", v5)]:
        w(f"visual/{n}.bin", b)

    # --- 共通AP EF 0001 record 1 ---
    rec = (d["cardSerial"] + c["muni"] + c["expiry"]).encode()
    assert len(rec) == 0x1C
    w("common/record1.bin", b"\x01\x1C" + rec)

    # --- profile.json ---
    t = c["tries"]
    def pin(kind, value, mx):
        return {"value": value, "tries": t.get(kind, mx), "maxTries": mx}
    pins = {}
    if not d["faceAuth"]:  # a 顔認証マイナンバーカード has none of the PINs the holder chooses
        pins.update(auth=pin("auth", c["pins"]["auth"], 3), sign=pin("sign", c["pins"]["sign"], 5),
                    text=pin("text", c["pins"]["text"], 3))
    pins.update(textA=pin("textA", d["myNumber"], 10), textB=pin("textB", d["textB"], 10),
                visualBirth=pin("visualBirth", d["visualBirth"], 10), visualB=pin("visualB", d["textB"], 10),
                visualA=pin("visualA", d["myNumber"], 10))
    if not d["faceAuth"]:
        pins["common"] = pin("common", c["pins"]["common"], 3)
    profile = {
        "name": c["name"], "description": c["description"], "atr": c["atr"],
        "pins": pins,
        "identity": {"myNumber": d["myNumber"], "name": c["nameText"], "address": c["address"],
                     "birthDate": c["birth"], "sex": c["sex"], "expiry": c["expiry"],
                     "securityCode": c["securityCode"], "municipalityCode": c["muni"],
                     "serial": d["cardSerial"]},
        "revoked": c["revoked"],
        "certificates": {"generation": c["gen"], "authSerial": d["authSerial"], "authSubjectCN": d["authCN"],
                         "notBefore": d["eeStart"], "notAfter": d["eeEnd"]},
    }
    if d["faceAuth"]:
        profile["faceAuth"] = True
    else:
        profile["certificates"].update(signSerial=d["signSerial"], signSubjectCN=d["signCN"])
    with open(os.path.join(base, "profile.json"), "w", encoding="utf-8") as f:
        json.dump(profile, f, ensure_ascii=False, indent=2)
        f.write("\n")
for p in PHONES:
    d = phone_derived(p)
    base = os.path.join(cards, p["name"])
    def w(rel, data):
        open(os.path.join(base, rel), "wb").write(data)
    w("jpki/0006.bin", p["token"].encode().ljust(32, b" ") + bytes(128))
    w("jpki/0008.bin", bytes([0x8F, 0x8F, 0x00]))
    profile = {
        "name": p["name"], "description": p["description"], "atr": p["atr"],
        "pins": {"auth": {"value": p["pins"]["auth"], "tries": 3, "maxTries": 3},
                 "sign": {"value": p["pins"]["sign"], "tries": 5, "maxTries": 5}},
        "revoked": False,
        "certificates": {"generation": d["gen"], "authSerial": d["authSerial"], "authSubjectCN": d["authCN"],
                         "notBefore": d["eeStart"], "notAfter": d["eeEnd"],
                         "signSerial": d["signSerial"], "signSubjectCN": d["signCN"]},
        "applications": ["jpki"],
        "holder": p["holder"],
        "authCertificateAfterPIN": p["certAfterPIN"],
    }
    with open(os.path.join(base, "profile.json"), "w", encoding="utf-8") as f:
        json.dump(profile, f, ensure_ascii=False, indent=2)
        f.write("\n")
print("card files written", file=sys.stderr)
PY
fi  # CHECK_ONLY (cards)

# ----------------------------------------------------------------------------------------------
# ECDSA P-384 stand-in (the next card: ECDSA P-384 / SHA-384, 10-year certificates; its AIDs and
# layout are not public): one root generation per purpose with P-384 keys, the card
# 30-ecdsa-p384-standin in today's AP layout (the person of 00-ordinary on a renewed card: text,
# visual and common AP files copied from 00-ordinary), an extra revoked EC certificate, and CRLs
# signed with ECDSA. OpenSSL 3.0's CLI signs ECDSA with a random nonce (no RFC 6979), so these
# files are made once and kept while every one of them exists (delete one, or --new-keys, to
# remake them all); the self-check verifies them either way.
# ----------------------------------------------------------------------------------------------
EC_GEN=ecdsa-p384-standin
EC_CARD=30-ecdsa-p384-standin
EC_START=20250101000000Z; EC_END=20441231145959Z            # stand-in roots: 20 years
EC_EE_START=20250401010000Z; EC_EE_END=20350331145959Z       # 10-year certificates (next card)
EC_AUTH_SERIAL=3001; EC_SIGN_SERIAL=3002; EC_REVOKED_SERIAL=3003
EC_FILES=("$PKI/auth-root-$EC_GEN.pem" "$PKI/sign-root-$EC_GEN.pem" "$PKI/auth-root-$EC_GEN.crl.der"
  "$PKI/sign-root-$EC_GEN.crl.der" "$PKI/extra/revoked-$EC_GEN-auth.pem" "$CARDS/$EC_CARD/jpki/000A.der"
  "$CARDS/$EC_CARD/jpki/0001.der" "$CARDS/$EC_CARD/profile.json")
ec_complete() { local f; for f in "${EC_FILES[@]}"; do [[ -s $f ]] || return 1; done; }
if [[ $CHECK_ONLY == 0 ]] && ! ec_complete; then
  log "ECDSA P-384 stand-in: roots, card $EC_CARD, CRLs"
  ecnewkey() { [[ -s "$1" ]] || { mkdir -p "$(dirname "$1")"; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -pkeyopt ec_param_enc:named_curve -out "$1" 2>/dev/null; }; }
  EJ=$CARDS/$EC_CARD/jpki
  for p in auth sign; do ecnewkey "$PKI/$p-root-$EC_GEN.test-key.pem"; done
  ecnewkey "$EJ/auth-key.test.pem"; ecnewkey "$EJ/sign-key.test.pem"; ecnewkey "$PKI/extra/revoked-$EC_GEN-auth.test-key.pem"
  newca "auth-root-$EC_GEN"; newca "sign-root-$EC_GEN"
  export ISSUE_MD=sha384
  issue selfsign 0A01 "$AUTH_ROOT_SUBJ" ext_root_auth "$PKI/auth-root-$EC_GEN.test-key.pem" $EC_START $EC_END "$PKI/auth-root-$EC_GEN.pem"
  issue selfsign 0A02 "$SIGN_ROOT_SUBJ" ext_root_sign "$PKI/sign-root-$EC_GEN.test-key.pem" $EC_START $EC_END "$PKI/sign-root-$EC_GEN.pem"
  # The person of 00-ordinary (same SAN identity section as its sign certificate).
  printf '[ ext_sign_ec ]\nkeyUsage = critical, digitalSignature, nonRepudiation\ncertificatePolicies = %s\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\ncrlDistributionPoints = crldp_sign\nsubjectAltName = @san_00_ordinary\n' \
    "$SIGN_POLICY" >> "$WORK/ext-cards.cnf"
  issue "auth-root-$EC_GEN" $EC_AUTH_SERIAL "/C=JP/CN=ECSTANDIN30AGCIEG132230A" ext_auth_ee "$EJ/auth-key.test.pem" \
    $EC_EE_START $EC_EE_END "$WORK/ec-auth.pem"
  issue "sign-root-$EC_GEN" $EC_SIGN_SERIAL "/C=JP/L=Tokyo-to/L=Chiyoda-ku/CN=ECSTANDIN30SGNIEG132230A" ext_sign_ec \
    "$EJ/sign-key.test.pem" $EC_EE_START $EC_EE_END "$WORK/ec-sign.pem" "$WORK/ext-cards.cnf"
  issue "auth-root-$EC_GEN" $EC_REVOKED_SERIAL "/C=JP/CN=ECREVOKEDTESTAUTH00000A" ext_auth_ee \
    "$PKI/extra/revoked-$EC_GEN-auth.test-key.pem" $EC_EE_START $EC_EE_END "$PKI/extra/revoked-$EC_GEN-auth.pem"
  revoke "auth-root-$EC_GEN" $EC_REVOKED_SERIAL
  gencrl "auth-root-$EC_GEN"; gencrl "sign-root-$EC_GEN"
  unset ISSUE_MD
  cp "$WORK/ec-auth.der" "$EJ/000A.der"; cp "$PKI/auth-root-$EC_GEN.der" "$EJ/000B.der"
  cp "$WORK/ec-sign.der" "$EJ/0001.der"; cp "$PKI/sign-root-$EC_GEN.der" "$EJ/0002.der"
  python3 - "$CARDS" "$EC_CARD" "$EC_AUTH_SERIAL" "$EC_SIGN_SERIAL" "$EC_EE_START" "$EC_EE_END" "$EC_GEN" <<'PY'
import json, os, shutil, sys
cards, name, aser, sser, start, end, gen = sys.argv[1:]
src, dst = os.path.join(cards, "00-ordinary"), os.path.join(cards, name)
for ap in ("text", "visual"):
    shutil.copytree(os.path.join(src, ap), os.path.join(dst, ap), dirs_exist_ok=True)
os.makedirs(os.path.join(dst, "common"), exist_ok=True)
for rel in ("face.jp2", "jpki/0006.bin", "jpki/0008.bin"):
    shutil.copyfile(os.path.join(src, rel), os.path.join(dst, rel))
p = json.load(open(os.path.join(src, "profile.json"), encoding="utf-8"))
serial = "131012800000030"   # a new card, a new card serial (test value)
rec = open(os.path.join(src, "common", "record1.bin"), "rb").read()
open(os.path.join(dst, "common", "record1.bin"), "wb").write(rec[:2] + serial.encode() + rec[17:])
p["name"] = name
p["description"] = ("ECDSA P-384 stand-in for the next card (FY2028; layout and AIDs not public): today's AP "
                    "layout, auth and sign keys ECDSA P-384 with SHA-384, 10-year certificates under the "
                    "ecdsa-p384-standin roots; the person of 00-ordinary (its text/visual AP files) on a renewed card")
p["atr"] = "3BE000FF8131FE4514"
p["identity"]["serial"] = serial
p["certificates"] = {"generation": gen, "keyAlgorithm": "ECDSA-P384-SHA384", "authSerial": aser,
                     "authSubjectCN": "ECSTANDIN30AGCIEG132230A", "notBefore": start, "notAfter": end,
                     "signSerial": sser, "signSubjectCN": "ECSTANDIN30SGNIEG132230A"}
with open(os.path.join(dst, "profile.json"), "w", encoding="utf-8") as f:
    json.dump(p, f, ensure_ascii=False, indent=2)
    f.write("\n")
PY
fi

# ----------------------------------------------------------------------------------------------
# Self-check
# ----------------------------------------------------------------------------------------------
log "self-check"
FAILS=0
check() { if "$@"; then :; else echo "[generate] CHECK FAILED: $*" >&2; FAILS=$((FAILS + 1)); fi; }
expect_fail() { # expected-error-substring cmd...
  local want=$1; shift
  local out; if out=$("$@" 2>&1); then echo "[generate] CHECK FAILED (should fail): $*" >&2; FAILS=$((FAILS + 1));
  elif ! grep -q "$want" <<<"$out"; then echo "[generate] CHECK FAILED (want '$want'): $* -> $out" >&2; FAILS=$((FAILS + 1)); fi
}
der_ok() { # every certificate DER starts 30 82 LL LL and LL LL + 4 == file size
  local f=$1 hdr size
  hdr=$(head -c 4 "$f" | od -An -tx1 | tr -d ' \n')
  size=$(stat -c %s "$f")
  [[ ${hdr:0:4} == 3082 && $((16#${hdr:4:4} + 4)) == "$size" ]]
}
topem() { openssl x509 -inform DER -in "$1" -out "$2"; }
# -attime: the fixture reference date, so the checks do not depend on today's date
REF=$(date -u -d "$REFERENCE_DATE" +%s)
V=(openssl verify -attime "$REF" -x509_strict)
ext_of() { openssl x509 -in "$1" -noout -ext "$2" 2>/dev/null; } # file ext-name
ski_of() { ext_of "$1" subjectKeyIdentifier | tail -1 | tr -d ' :'; }
aki_of() { ext_of "$1" authorityKeyIdentifier | sed -n 's/^ *\(keyid:\)\{0,1\}\([0-9A-F:]\{20,\}\).*/\2/p' | head -1 | tr -d ':'; }
enddate_z() { # notAfter as YYYYMMDDhhmmssZ
  date -u -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%Y%m%d%H%M%SZ
}

while IFS= read -r -d '' f; do check der_ok "$f"; done < <(find "$PKI" "$CARDS" -name '*.der' ! -name '*.crl.der' -print0)

# Roots: one DN per purpose shared by every generation, a different key each, the J-LIS extension set.
for p in auth sign; do
  declare -A SEEN_SKI=()
  first_dn=""
  for g in $GENS; do
    r=$PKI/$p-root-$g.pem
    check cmp -s "$PKI/$p-root-$g.der" <(openssl x509 -in "$r" -outform DER)
    check "${V[@]}" -CAfile "$r" "$r" >/dev/null
    dn=$(openssl x509 -in "$r" -noout -subject -nameopt RFC2253)
    check test "$dn" = "$(openssl x509 -in "$r" -noout -issuer -nameopt RFC2253 | sed 's/^issuer=/subject=/')"
    [[ -z $first_dn ]] && first_dn=$dn
    check test "$dn" = "$first_dn"                              # same DN across generations
    check grep -q "O=$ORG," <<<"$dn"                             # our organisation, never J-LIS's
    ski=$(ski_of "$r"); check test -n "$ski"
    check test -z "${SEEN_SKI[$ski]:-}"; SEEN_SKI[$ski]=$g        # a different key per generation
    check test -z "$(ext_of "$r" authorityKeyIdentifier)"        # no AKI on roots
    check grep -q "critical" <(ext_of "$r" keyUsage); check grep -qx " *Certificate Sign, CRL Sign" <(ext_of "$r" keyUsage)
    check grep -q "critical" <(ext_of "$r" basicConstraints); check grep -q "CA:TRUE" <(ext_of "$r" basicConstraints)
    check grep -q "DirName:" <(ext_of "$r" subjectAltName)
    check grep -q "DirName:" <(ext_of "$r" crlDistributionPoints)
    check test -z "$(ext_of "$r" crlDistributionPoints | grep URI)"   # DirName only
    start_y=$(date -u -d "$(openssl x509 -in "$r" -noout -startdate | cut -d= -f2)" +%Y)
    end_y=$(date -u -d "$(openssl x509 -in "$r" -noout -enddate | cut -d= -f2)" +%Y)
    check test "$start_y" = "$g"
    check test $((end_y - start_y)) = 10                          # 10-year validity
    c=$PKI/$p-root-$g.crl.pem
    check openssl crl -in "$c" -CAfile "$r" -noout 2>/dev/null
    check test "$(openssl crl -in "$c" -noout -text | grep -A1 'Authority Key Identifier' | tail -1 | tr -d ' :' | sed 's/^keyid//')" = "$ski"
  done
  unset SEEN_SKI
done
check "${V[@]}" -CAfile "$PKI/auth-root-$HTTP_GEN.pem" -purpose ocsphelper "$PKI/ocsp-signer.pem" >/dev/null
# (issuer key, serial) unique over every certificate; serials repeat across generations on purpose
check test "$(find "$PKI" "$CARDS" -name '*.der' ! -name '*.crl.der' ! -name '000B.der' ! -name '0002.der' ! -name '*-root-*.der' \
  -exec sh -c 'for f; do echo "$(openssl x509 -inform DER -in "$f" -noout -ext authorityKeyIdentifier 2>/dev/null | tail -1 | tr -d " ") $(openssl x509 -inform DER -in "$f" -noout -serial)"; done' _ {} + \
  | sort | uniq -d | wc -l)" = 0

# Every generation of a purpose in one PEM bundle (self-check only; nothing committed bundles them)
for p in auth sign; do
  for g in $GENS; do cat "$PKI/$p-root-$g.pem"; done > "$WORK/$p-roots.pem"
  for g in $GENS; do cat "$PKI/$p-root-$g.crl.pem"; done > "$WORK/$p-crls.pem"
done
ALL_AUTH=(-CAfile "$WORK/auth-roots.pem"); ALL_SIGN=(-CAfile "$WORK/sign-roots.pem")
while IFS=$'\t' read -r name aser sser acn scn pref city revoked gen http face eestart eeend; do
  J="$CARDS/$name/jpki"
  topem "$J/000A.der" "$WORK/a.pem"
  check cmp -s "$J/000B.der" "$PKI/auth-root-$gen.der"
  check test "$(aki_of "$WORK/a.pem")" = "$(ski_of "$PKI/auth-root-$gen.pem")"   # AKI names its generation
  check test "${#acn}" = 23                                                       # 23-character auth CN
  check test "$(enddate_z "$WORK/a.pem")" = "$eeend"                              # 5th birthday (see cards.py)
  check test "$(openssl x509 -in "$WORK/a.pem" -noout -serial)" = "serial=$aser"
  check test "$(openssl x509 -in "$WORK/a.pem" -noout -subject -nameopt RFC2253)" = "subject=CN=$acn,C=JP"
  check test "$(openssl x509 -in "$WORK/a.pem" -noout -pubkey)" = "$(openssl pkey -in "$J/auth-key.test.pem" -pubout)"
  if [[ $http == 1 ]]; then
    check grep -q "URI:$CRL_BASE/auth-root-$gen.crl" <(ext_of "$WORK/a.pem" crlDistributionPoints)
    check grep -q "OCSP - URI:$OCSP_URL" <(ext_of "$WORK/a.pem" authorityInfoAccess)
  else
    check grep -q "DirName:" <(ext_of "$WORK/a.pem" crlDistributionPoints)
    check test -z "$(ext_of "$WORK/a.pem" crlDistributionPoints | grep URI)"
    check test -z "$(ext_of "$WORK/a.pem" authorityInfoAccess)"
  fi
  # inside its own validity (a day after issue) the chain builds to its generation among all anchors
  AT_ISSUE=$(( $(date -u -d "${eestart:0:8}" +%s) + 86400 ))
  check openssl verify -attime "$AT_ISSUE" -x509_strict "${ALL_AUTH[@]}" -policy_check -explicit_policy -policy $AUTH_POLICY "$WORK/a.pem" >/dev/null
  if [[ $face == 1 ]]; then
    check test ! -e "$J/0001.der"; check test ! -e "$J/0002.der"
  else
    topem "$J/0001.der" "$WORK/s.pem"
    check cmp -s "$J/0002.der" "$PKI/sign-root-$gen.der"
    check test "$(aki_of "$WORK/s.pem")" = "$(ski_of "$PKI/sign-root-$gen.pem")"
    check test "$(enddate_z "$WORK/s.pem")" = "$eeend"
    check test "$(openssl x509 -in "$WORK/s.pem" -noout -serial)" = "serial=$sser"
    check test "$(openssl x509 -in "$WORK/s.pem" -noout -pubkey)" = "$(openssl pkey -in "$J/sign-key.test.pem" -pubout)"
    check openssl verify -attime "$AT_ISSUE" -x509_strict "${ALL_SIGN[@]}" -policy_check -explicit_policy -policy $SIGN_POLICY "$WORK/s.pem" >/dev/null
  fi
  # at the reference date, with every generation's anchors and CRLs loaded
  if [[ $(date -u -d "${eeend:0:8} ${eeend:8:2}:${eeend:10:2}:${eeend:12:2}" +%s) -lt $REF ]]; then
    expect_fail "certificate has expired" "${V[@]}" "${ALL_AUTH[@]}" "$WORK/a.pem"
  elif [[ $revoked == 1 ]]; then
    expect_fail "certificate revoked" "${V[@]}" "${ALL_AUTH[@]}" -crl_check -CRLfile "$WORK/auth-crls.pem" "$WORK/a.pem"
  else
    check "${V[@]}" "${ALL_AUTH[@]}" -crl_check -CRLfile "$WORK/auth-crls.pem" "$WORK/a.pem" >/dev/null
    [[ $face == 1 ]] || check "${V[@]}" "${ALL_SIGN[@]}" -crl_check -CRLfile "$WORK/sign-crls.pem" "$WORK/s.pem" >/dev/null
  fi
  if [[ $gen == "$HTTP_GEN" ]]; then
    if [[ $revoked == 1 ]]; then check grep -q "^R	.*	$aser	" "$PKI/ocsp-index.txt"; else check grep -q "^V	.*	$aser	" "$PKI/ocsp-index.txt"; fi
    # OCSP round trip without a server: request -> local responder -> check
    R23=$PKI/auth-root-$HTTP_GEN.pem
    openssl ocsp -no_nonce -issuer "$R23" -cert "$WORK/a.pem" -reqout "$WORK/req.der" 2>/dev/null
    openssl ocsp -index "$PKI/ocsp-index.txt" -CA "$R23" -rsigner "$PKI/ocsp-signer.pem" \
      -rkey "$PKI/ocsp-signer.test-key.pem" -reqin "$WORK/req.der" -respout "$WORK/resp.der" >/dev/null 2>&1
    ocsp_out=$(openssl ocsp -respin "$WORK/resp.der" -issuer "$R23" -CAfile "$R23" \
      -cert "$WORK/a.pem" -no_nonce 2>&1 || true)
    if [[ $revoked == 1 ]]; then check grep -q "a.pem: revoked" <<<"$ocsp_out"; else check grep -q "a.pem: good" <<<"$ocsp_out"; fi
    check grep -q "Response verify OK" <<<"$ocsp_out"
  fi
done < <(cat "$WORK/cards.tsv"; cut -f1-13 "$WORK/phones.tsv")

# negative certificates fail for the intended reason
X=$PKI/extra; A23=$PKI/auth-root-2023.pem
check "${V[@]}" -CAfile "$X/other-root.pem" "$X/other-ee.pem" >/dev/null
expect_fail "certificate has expired" "${V[@]}" -CAfile "$A23" "$X/expired-auth.pem"
expect_fail "certificate is not yet valid" "${V[@]}" -CAfile "$A23" "$X/not-yet-valid-auth.pem"
expect_fail "unable to get local issuer" "${V[@]}" "${ALL_AUTH[@]}" "$X/other-ee.pem"
expect_fail "no explicit policy" "${V[@]}" -CAfile "$A23" -policy_check -explicit_policy \
  -policy $AUTH_POLICY "$X/wrong-policy-auth.pem"
check grep -q "Key Encipherment" <(ext_of "$X/wrong-keyusage-auth.pem" keyUsage)
# generations: a certificate claiming 2019 (AKI) but signed with the 2015 key fails with every anchor
check test "$(aki_of "$X/forged-generation-auth.pem")" = "$(ski_of "$PKI/auth-root-2019.pem")"
expect_fail "certificate signature failure" "${V[@]}" "${ALL_AUTH[@]}" "$X/forged-generation-auth.pem"
# same serial, other generation: each CRL revokes only its own generation's certificate
check test "$(openssl x509 -in "$X/same-serial-2015-auth.pem" -noout -serial)" = "serial=1041"
check "${V[@]}" "${ALL_AUTH[@]}" -crl_check -CRLfile "$WORK/auth-crls.pem" "$X/same-serial-2015-auth.pem" >/dev/null
expect_fail "certificate revoked" "${V[@]}" "${ALL_AUTH[@]}" -crl_check -CRLfile "$WORK/auth-crls.pem" "$X/revoked-2015-auth.pem"
check test "$(openssl x509 -in "$X/revoked-2015-auth.pem" -noout -serial)" = "serial=1001"
check test "$(openssl x509 -in "$X/same-serial-2019-auth.pem" -noout -serial)" = "serial=1001"
check "${V[@]}" "${ALL_AUTH[@]}" -crl_check -CRLfile "$WORK/auth-crls.pem" "$X/same-serial-2019-auth.pem" >/dev/null

# ECDSA P-384 stand-in: P-384 keys, ECDSA-SHA384 signatures, chains and EC-signed CRLs
EJ=$CARDS/$EC_CARD/jpki
for p in auth sign; do
  r=$PKI/$p-root-$EC_GEN.pem
  check cmp -s "$PKI/$p-root-$EC_GEN.der" <(openssl x509 -in "$r" -outform DER)
  check "${V[@]}" -CAfile "$r" "$r" >/dev/null
  check grep -q "ASN1 OID: secp384r1" <(openssl x509 -in "$r" -noout -text)
  check grep -q "Signature Algorithm: ecdsa-with-SHA384" <(openssl x509 -in "$r" -noout -text)
  check test "$(openssl x509 -in "$r" -noout -subject -nameopt RFC2253)" = "$(openssl x509 -in "$PKI/$p-root-2023.pem" -noout -subject -nameopt RFC2253)"
  check openssl crl -in "$PKI/$p-root-$EC_GEN.crl.pem" -CAfile "$r" -noout 2>/dev/null
  check cmp -s "$PKI/$p-root-$EC_GEN.crl.der" <(openssl crl -in "$PKI/$p-root-$EC_GEN.crl.pem" -outform DER)
  check grep -q "ecdsa-with-SHA384" <(openssl crl -in "$PKI/$p-root-$EC_GEN.crl.pem" -noout -text)
done
check cmp -s "$EJ/000B.der" "$PKI/auth-root-$EC_GEN.der"; check cmp -s "$EJ/0002.der" "$PKI/sign-root-$EC_GEN.der"
topem "$EJ/000A.der" "$WORK/ea.pem"; topem "$EJ/0001.der" "$WORK/es.pem"
check "${V[@]}" -CAfile "$PKI/auth-root-$EC_GEN.pem" -crl_check -CRLfile "$PKI/auth-root-$EC_GEN.crl.pem" \
  -policy_check -explicit_policy -policy $AUTH_POLICY "$WORK/ea.pem" >/dev/null
check "${V[@]}" -CAfile "$PKI/sign-root-$EC_GEN.pem" -crl_check -CRLfile "$PKI/sign-root-$EC_GEN.crl.pem" \
  -policy_check -explicit_policy -policy $SIGN_POLICY "$WORK/es.pem" >/dev/null
expect_fail "certificate revoked" "${V[@]}" -CAfile "$PKI/auth-root-$EC_GEN.pem" -crl_check \
  -CRLfile "$PKI/auth-root-$EC_GEN.crl.pem" "$PKI/extra/revoked-$EC_GEN-auth.pem"
# an EC certificate never chains to an RSA generation, nor an RSA card to the EC root
expect_fail "unable to get local issuer" "${V[@]}" -CAfile "$WORK/auth-roots.pem" "$WORK/ea.pem"
for f in "$WORK/ea.pem" "$WORK/es.pem"; do
  check grep -q "ASN1 OID: secp384r1" <(openssl x509 -in "$f" -noout -text)
  check grep -q "Signature Algorithm: ecdsa-with-SHA384" <(openssl x509 -in "$f" -noout -text)
done
check test "$(openssl pkey -in "$EJ/auth-key.test.pem" -pubout)" = "$(openssl x509 -in "$WORK/ea.pem" -noout -pubkey)"
check test "$(openssl pkey -in "$EJ/sign-key.test.pem" -pubout)" = "$(openssl x509 -in "$WORK/es.pem" -noout -pubkey)"
# 10-year certificates
check test $(( $(date -u -d "$(openssl x509 -in "$WORK/ea.pem" -noout -enddate | cut -d= -f2)" +%Y) - $(date -u -d "$(openssl x509 -in "$WORK/ea.pem" -noout -startdate | cut -d= -f2)" +%Y) )) = 10
# today's AP layout: the text/visual AP files and token info of 00-ordinary, the card's own serial
for f in text/0001.bin text/0002.bin text/0003.bin text/0004.bin text/0005.bin text/ap-key.test.pem \
         visual/0001.bin visual/0002.bin visual/0003.bin visual/0004.bin visual/0005.bin visual/ap-key.test.pem \
         face.jp2 jpki/0006.bin jpki/0008.bin; do
  check cmp -s "$CARDS/00-ordinary/$f" "$CARDS/$EC_CARD/$f"
done
check python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); r=open(sys.argv[2],"rb").read(); sys.exit(0 if r[2:17].decode()==p["identity"]["serial"] and p["name"]==sys.argv[3] else 1)' \
  "$CARDS/$EC_CARD/profile.json" "$CARDS/$EC_CARD/common/record1.bin" "$EC_CARD"

# card byte layouts, digests and signatures
python3 - "$WORK" "$PKI" "$CARDS" <<'PY' || FAILS=$((FAILS + 1))
import hashlib, json, os, struct, subprocess, sys, tempfile, zlib
work, pki, cards = sys.argv[1:]
sys.path.insert(0, work)
from cards import *
H = lambda b: hashlib.sha256(b).digest()
bad = 0
def ok(cond, what):
    global bad
    if not cond:
        print("[generate] CHECK FAILED:", what, file=sys.stderr); bad += 1

def parse(b, i=0):
    """one BER TLV at b[i:], shortest-length rule enforced: (tag, value, end)"""
    tag = b[i]; i += 1
    if tag & 0x1F == 0x1F:
        tag = tag << 8 | b[i]; i += 1
    l = b[i]; i += 1
    if l == 0x81: l = b[i]; i += 1; assert l >= 0x80, "non-minimal 81"
    elif l == 0x82: l = struct.unpack(">H", b[i:i + 2])[0]; i += 2; assert l >= 0x100, "non-minimal 82"
    else: assert l < 0x80
    return tag, b[i:i + l], i + l
def children(v):
    out, i = [], 0
    while i < len(v):
        t, val, j = parse(v, i); out.append((t, val, v[i:j], i)); i = j
    return out
def whole(b, tag):
    t, v, end = parse(b)
    assert t == tag and end == len(b), (hex(t), end, len(b))
    return v

def verify_sha256(pubpem, data, sig):
    with tempfile.NamedTemporaryFile(dir=work) as d, tempfile.NamedTemporaryFile(dir=work) as s:
        d.write(data); d.flush(); s.write(sig); s.flush()
        r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", pubpem, "-signature", s.name, d.name],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        return r.returncode == 0 and b"Verified OK" in r.stdout
def recover(pubpem, sig):
    return subprocess.run(["openssl", "pkeyutl", "-verifyrecover", "-pubin", "-inkey", pubpem,
                           "-pkeyopt", "rsa_padding_mode:pkcs1"], input=sig, stdout=subprocess.PIPE, check=True).stdout
def pem_from_9091(v):
    """RSA public key PEM built from 90/91 TLVs (DER SubjectPublicKeyInfo assembled here)."""
    kv = {t: val for t, val, _, _ in children(v)}
    def integer(x):
        x = x.lstrip(b"\0")
        if x[0] & 0x80: x = b"\0" + x
        return b"\x02" + L(len(x)) + x
    def L(n): return bytes([n]) if n < 0x80 else (bytes([0x81, n]) if n < 0x100 else b"\x82" + struct.pack(">H", n))
    def seq(x): return b"\x30" + L(len(x)) + x
    rsapub = seq(integer(kv[0x91]) + integer(kv[0x90]))
    bitstr = b"\x03" + L(len(rsapub) + 1) + b"\0" + rsapub
    spki = seq(seq(bytes.fromhex("06092a864886f70d0101010500")) + bitstr)
    import base64
    p = os.path.join(work, "k%d.pem" % (hash(v) & 0xFFFFFF))
    open(p, "w").write("-----BEGIN PUBLIC KEY-----\n" + base64.encodebytes(spki).decode() + "-----END PUBLIC KEY-----\n")
    return p
def pub_of(keyfile):
    return subprocess.run(["openssl", "pkey", "-in", keyfile, "-pubout"], stdout=subprocess.PIPE, check=True).stdout
def check_offsets(b, expect_tags):
    v = whole(b, 0xFF20)
    ch = children(v)
    ok(ch[0][0] == 0xDF21, "first child DF21")
    offs = struct.unpack(">%dH" % (len(ch[0][1]) // 2), ch[0][1])
    hdr = len(b) - len(v)
    ok([t for t, _, _, _ in ch[1:]] == expect_tags, "tags order")
    ok(list(offs) == [hdr + pos for _, _, _, pos in ch[1:]], "offset table")
    return {t: (val, raw) for t, val, raw, _ in ch[1:]}, hdr + ch[1][3]
def png_ok(p):
    if p[:8] != b"\x89PNG\r\n\x1a\n": return False
    w, h, depth, ctype = struct.unpack(">IIBB", p[16:26])
    return depth == 1 and ctype == 0 and w > 0 and h > 0

seen = {}
def check_card(i, c):
    d = derived(c, i)
    base = os.path.join(cards, c["name"])
    r = lambda rel: open(os.path.join(base, rel), "rb").read()
    prof = json.load(open(os.path.join(base, "profile.json"), encoding="utf-8"))
    mn = prof["identity"]["myNumber"]
    ok(my_number_valid(mn), f"{c['name']} My Number check digit")
    ok(prof["pins"]["textA"]["value"] == mn == prof["pins"]["visualA"]["value"], "textA/visualA = My Number")
    ok(prof["pins"]["textB"]["value"] == era_yymmdd(c["birth"]) + c["expiry"][:4] + c["securityCode"], "textB")
    ok(len(prof["pins"]["textB"]["value"]) == 14 and prof["pins"]["visualB"] == prof["pins"]["textB"], "visualB")
    if d["faceAuth"]:
        ok(prof.get("faceAuth") is True and not ({"auth", "sign", "text", "common"} & set(prof["pins"]))
           and "signSerial" not in prof["certificates"], "face-auth card: no PIN, no sign certificate")
    else:
        ok("faceAuth" not in prof, "faceAuth only on the face-auth card")
        ok(len(prof["pins"]["auth"]["value"]) == 4 and prof["pins"]["auth"]["value"].isdigit(), "auth PIN 4 digits")
        sp = prof["pins"]["sign"]["value"]
        ok(6 <= len(sp) <= 16 and sp.isalnum() and sp.upper() == sp and any(ch.isdigit() for ch in sp)
           and any(ch.isalpha() for ch in sp), "sign password rule")
    ok(prof["certificates"]["notAfter"] == nth_birthday_after(c["birth"], c["issued"], 5) + "145959Z", "EE ends on the 5th birthday after issue")
    ok(c["expiry"] == nth_birthday_after(c["birth"], c["issued"], 10), "card expiry = 10th birthday after issue")
    ok("\u3000" in prof["identity"]["name"], "U+3000 in name")
    seen.setdefault(prof["identity"]["name"], []).append((prof["identity"]["birthDate"], mn))
    # JPKI
    ok(len(r("jpki/0006.bin")) == 160 and r("jpki/0006.bin")[:32] == b"JPKIAPICCTOKEN2" + b" " * 17, "0006")
    ok(r("jpki/0008.bin") == (b"\x00\x8F\x00" if d["faceAuth"] else b"\x8F\x8F\x00"), "0008")
    # text AP
    e1, e2, e3, e4, e5 = (r(f"text/000{n}.bin") for n in range(1, 6))
    ok(len(e1) == 17 and e1[:3] == b"\xFF\x10\x0C" and e1[3:15] == mn.encode() and e1[15:] == b"\xFF\xFF", "text 0001")
    f, df22_at = check_offsets(e2, [0xDF22, 0xDF23, 0xDF24, 0xDF25])
    ok(f[0xDF22][0].decode() == c["nameText"] and f[0xDF23][0].decode() == c["address"]
       and f[0xDF24][0].decode() == c["birth"] and f[0xDF25][0].decode() == c["sex"], "text 0002 values")
    ok(e3[:5] == bytes.fromhex("FF3082014B"), "text 0003 header")
    ch3 = children(whole(e3, 0xFF30))
    ok([t for t, *_ in ch3] == [0xDF31, 0xDF32, 0xDF33], "text 0003 tags")
    ok(ch3[0][1] == H(e1), "DF31 = sha256(EF0001 physical)")
    ok(ch3[1][1] == H(e2[df22_at:]), "DF32 = sha256(EF0002 from DF22)")
    cv = children(whole(e4, 0x7F21))
    ok(e4[:5] == bytes.fromhex("7F21820233") and [t for t, *_ in cv] == [0x5F4E, 0x5F37] and len(cv[0][1]) == 297, "text CV layout")
    body = cv[0][1]
    ok(body[:16] == b"6000033\x08\x05001\0\0\0\0", "text CV issuer key ID")
    ok(verify_sha256(os.path.join(pki, "cv", "text-cv-issuer.pub.pem"), body, cv[1][1]), "text CV signature")
    text_pub = pem_from_9091(body[32:])
    ok(subprocess.run(["openssl", "pkey", "-pubin", "-in", text_pub, "-pubout"], stdout=subprocess.PIPE).stdout
       == pub_of(os.path.join(base, "text", "ap-key.test.pem")), "text CV key = text ap-key")
    ok(verify_sha256(text_pub, ch3[0][2] + ch3[1][2], ch3[2][1]), "text DF33 signature (with the CV-certified key)")
    ch5 = children(whole(e5, 0xFF40))
    ok([t for t, *_ in ch5] == [0xDF41, 0xDF42, 0xDF43] and len(ch5[2][1]) == 128, "text 0005")
    # visual AP
    v1, v2, v3, v4, v5 = (r(f"visual/000{n}.bin") for n in range(1, 6))
    cvv = children(whole(v4, 0x7F21))
    vbody = cvv[0][1]
    ok(v4[:5] == bytes.fromhex("7F21820233") and vbody[:16] == b"6000023\x08\x05001\0\0\0\0", "visual CV layout")
    ok(verify_sha256(os.path.join(pki, "cv", "visual-cv-issuer.pub.pem"), vbody, cvv[1][1]), "visual CV signature")
    vis_pub = pem_from_9091(vbody[32:])
    ok(subprocess.run(["openssl", "pkey", "-pubin", "-in", vis_pub, "-pubout"], stdout=subprocess.PIPE).stdout
       == pub_of(os.path.join(base, "visual", "ap-key.test.pem")), "visual CV key = visual ap-key")
    g, _ = check_offsets(v2, [0xDF22, 0xDF23, 0xDF24, 0xDF25, 0xDF26, 0xDF27, 0xDF28, 0xDF29, 0xDF2A])
    ok(g[0xDF22][0].decode() == c["birth"] and g[0xDF23][0].decode() == c["sex"] and g[0xDF29][0].decode() == c["expiry"], "visual values")
    ok(g[0xDF24][0] == vbody[32:], "DF24 = CV-certified key")
    ok(all(png_ok(g[t][0]) for t in (0xDF25, 0xDF26, 0xDF2A)), "PNGs 1-bit greyscale")
    ok(g[0xDF27][0] == r("face.jp2") and g[0xDF27][0][:12] == bytes.fromhex("0000000C6A5020200D0A870A"), "DF27 = face.jp2 (JP2)")
    h96 = H(g[0xDF22][1] + g[0xDF23][1] + g[0xDF24][1]) + H(g[0xDF25][1] + g[0xDF26][1]) + H(g[0xDF27][1])
    di = bytes.fromhex("307130""0d06096086480165030402010500""0460") + h96
    ok(recover(vis_pub, g[0xDF28][0]) == di, "DF28 = PKCS#1 v1.5 over DigestInfo(sha256, H1‖H2‖H3)")
    a = children(whole(v1, 0xFF10))
    ok(a[0][1] == c["birth"].encode() and verify_sha256(vis_pub, a[0][2] + a[1][2], a[2][1]), "visual 0001 age record")
    m = children(whole(v5, 0xFF40))
    ok(png_ok(m[0][1]) and verify_sha256(vis_pub, m[0][2] + m[1][2], m[2][1]), "visual 0005 My Number image record")
    b3 = {t: val for t, val, _, _ in children(whole(v3, 0xFF30))}
    ok(b3[0xDF34] == c["muni"].encode() and len(b3[0xDF35]) == 272, "visual 0003")
    # 共通AP
    rec = r("common/record1.bin")
    ok(rec[:2] == b"\x01\x1C" and len(rec) == 30 and rec[2:17].decode() == prof["identity"]["serial"]
       and rec[17:22].decode() == c["muni"] and rec[22:].decode() == c["expiry"], "common record 1")
for i, c in enumerate(CARDS):
    try:
        check_card(i, c)
    except Exception as e:  # malformed bytes: report, do not crash
        ok(False, f"{c['name']}: {type(e).__name__}: {e}")
pair = seen.get("佐藤　花子", [])
ok(len(pair) == 2 and pair[0][0] != pair[1][0] and pair[0][1] != pair[1][1], "same-name pair differs in birth date and My Number")
n01 = json.load(open(os.path.join(cards, "01-kanji-variant", "profile.json"), encoding="utf-8"))["identity"]
ok(all(k in n01["name"] for k in "髙﨑邊") and "\u3000" in n01["address"], "kanji-variant card")
p05 = json.load(open(os.path.join(cards, "05-nearly-blocked", "profile.json"), encoding="utf-8"))["pins"]
ok(p05["auth"]["tries"] == p05["sign"]["tries"] == p05["text"]["tries"] == 1 and p05["common"]["tries"] == 3, "nearly-blocked tries")
# smartphones: JPKI AP only, the phone's token label, own serials, the holder's sign SAN
for p in PHONES:
    base = os.path.join(cards, p["name"])
    prof = json.load(open(os.path.join(base, "profile.json"), encoding="utf-8"))
    tok = open(os.path.join(base, "jpki", "0006.bin"), "rb").read()
    ok(len(tok) == 160 and tok[:32] == p["token"].encode().ljust(32, b" "), p["name"] + " 0006 token label")
    ok(sorted(os.listdir(base)) == ["jpki", "profile.json"] and prof["applications"] == ["jpki"], p["name"] + " JPKI AP only")
    holder = json.load(open(os.path.join(cards, p["holder"], "profile.json"), encoding="utf-8"))
    ok(prof["certificates"]["authSerial"] != holder["certificates"]["authSerial"]
       and prof["certificates"]["notAfter"] == holder["certificates"]["notAfter"], p["name"] + " own serial, lapses with the card")
    ok(prof["authCertificateAfterPIN"] == (p["token"] == "JPKIAPGPSETOKEN"), p["name"] + " access rule")
    san = lambda f: subprocess.run(["openssl", "x509", "-inform", "DER", "-in", f, "-noout", "-ext", "subjectAltName"],
                                   stdout=subprocess.PIPE).stdout
    ok(san(os.path.join(base, "jpki", "0001.der")) == san(os.path.join(cards, p["holder"], "jpki", "0001.der")),
       p["name"] + " sign SAN = holder's")
sys.exit(1 if bad else 0)
PY

if [[ $FAILS -ne 0 ]]; then die "$FAILS self-check(s) failed"; fi
log "self-check passed"
