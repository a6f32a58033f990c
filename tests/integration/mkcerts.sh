#!/usr/bin/env bash
# mkcerts.sh DIR: a test PKI for the TLS tests (SECURITY.md H-08), made
# with the openssl command; EC P-256 keys so it takes well under a second.
#
#   ca.pem / ca.key           the test CA (the client's smtp_tls_CAfile)
#   NAME.pem / NAME.key       server certificate and key, for NAME in:
#     localhost     CA-signed, SAN DNS:localhost, IP:127.0.0.1 (good)
#     chain         leaf for localhost signed by an intermediate CA,
#                   chain.pem = leaf + intermediate (good)
#     nochain       the same leaf alone: the intermediate is missing
#     wrongname     SAN DNS:other.example
#     expired       localhost, valid from 2 years ago to 1 year ago
#     notyet        localhost, valid from 1 year ahead
#     selfsigned    self-signed, SAN DNS:localhost
#     rogue         localhost, signed by an unknown CA
#     cnonly        CN=localhost, no subjectAltName
#     wildcard      SAN DNS:*.localhost (does not cover "localhost")
#     star          SAN DNS:* (never valid)
#     iponly        SAN IP:127.0.0.1 only (must not match the name localhost)
#     nulcn         CN "localhost\0.other.example", no SAN   (Python)
#     nulsan        SAN DNS "localhost\0.other.example"       (Python)
# The two NUL certificates cannot be made with the openssl CLI (-subj and
# config values stop at NUL); they are made with Python's cryptography
# package (Debian's python3-cryptography) signed by the same CA, and are
# left out (with a line on stderr) when that package is missing.
# Prints nothing on success; exits non-zero on any openssl failure.
set -eu
D=${1:?usage: mkcerts.sh DIR}
mkdir -p "$D"
cd "$D"
export OPENSSL_CONF=/dev/null	# no system defaults leaking in
umask 077

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2> /dev/null; }

# ca NAME CN: a self-signed CA
ca() {
	key "$1.key"
	openssl req -new -x509 -key "$1.key" -out "$1.pem" -days 3650 -subj "/O=satmail test/CN=$2" \
		-addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign \
		-addext subjectKeyIdentifier=hash 2> /dev/null
}

# leaf NAME ISSUER CN [SAN]: a server certificate signed by ISSUER (ISSUER.pem/.key)
leaf() {
	local name=$1 issuer=$2 cn=$3 san=${4:-}
	key "$name.key"
	{
		echo "basicConstraints = critical, CA:false"
		echo "keyUsage = critical, digitalSignature"
		echo "extendedKeyUsage = serverAuth"
		[ -z "$san" ] || echo "subjectAltName = $san"
	} > "$name.ext"
	openssl req -new -key "$name.key" -subj "/O=satmail test/CN=$cn" -out "$name.csr" 2> /dev/null
	openssl x509 -req -in "$name.csr" -CA "$issuer.pem" -CAkey "$issuer.key" -set_serial "0x$(openssl rand -hex 8)" \
		-days 365 -extfile "$name.ext" -out "$name.pem" 2> /dev/null
	rm -f "$name.csr" "$name.ext"
}

# dated NAME START END: a localhost certificate with explicit validity
# dates (openssl x509 in 3.0 has no -not_before; openssl ca has -startdate).
dated() {
	local name=$1 start=$2 end=$3 db=$D/ca-db
	rm -rf "$db"; mkdir -p "$db"
	: > "$db/index.txt"
	openssl rand -hex 8 > "$db/serial"
	cat > "$db/ca.cnf" <<-EOF
	[ ca ]
	default_ca = test_ca
	[ test_ca ]
	database = $db/index.txt
	serial = $db/serial
	new_certs_dir = $db
	certificate = $D/ca.pem
	private_key = $D/ca.key
	default_md = sha256
	policy = anything
	unique_subject = no
	copy_extensions = none
	x509_extensions = server
	[ anything ]
	organizationName = optional
	commonName = supplied
	[ server ]
	basicConstraints = critical, CA:false
	keyUsage = critical, digitalSignature
	extendedKeyUsage = serverAuth
	subjectAltName = DNS:localhost, IP:127.0.0.1
	EOF
	key "$name.key"
	openssl req -new -key "$name.key" -subj "/O=satmail test/CN=localhost" -out "$db/req.csr" 2> /dev/null
	openssl ca -batch -config "$db/ca.cnf" -notext -startdate "$start" -enddate "$end" \
		-in "$db/req.csr" -out "$name.pem" 2> /dev/null
	rm -rf "$db"
}

ca ca "satmail test CA"
ca rogue-ca "satmail rogue CA"

leaf localhost ca localhost "DNS:localhost, IP:127.0.0.1"
leaf wrongname ca other.example "DNS:other.example"
leaf rogue rogue-ca localhost "DNS:localhost, IP:127.0.0.1"
leaf cnonly ca localhost
leaf wildcard ca "*.localhost" "DNS:*.localhost"
leaf star ca "*" "DNS:*"
leaf iponly ca 127.0.0.1 "IP:127.0.0.1"

# Intermediate CA; "chain" presents leaf + intermediate, "nochain" the leaf only.
key inter.key
openssl req -new -key inter.key -subj "/O=satmail test/CN=satmail test intermediate" -out inter.csr 2> /dev/null
printf '%s\n' "basicConstraints = critical, CA:true, pathlen:0" "keyUsage = critical, keyCertSign, cRLSign" \
	"subjectKeyIdentifier = hash" "authorityKeyIdentifier = keyid" > inter.ext
openssl x509 -req -in inter.csr -CA ca.pem -CAkey ca.key -set_serial "0x$(openssl rand -hex 8)" -days 3650 \
	-extfile inter.ext -out inter.pem 2> /dev/null
rm -f inter.csr inter.ext
leaf nochain inter localhost "DNS:localhost, IP:127.0.0.1"
cat nochain.pem inter.pem > chain.pem
cp nochain.key chain.key

# Self-signed localhost.
key selfsigned.key
openssl req -new -x509 -key selfsigned.key -out selfsigned.pem -days 365 -subj "/O=satmail test/CN=localhost" \
	-addext "subjectAltName = DNS:localhost, IP:127.0.0.1" 2> /dev/null

# Validity in the past / in the future (UTCTime YYMMDDHHMMSSZ).
d() { date -u -d "$1" +%y%m%d%H%M%SZ; }
dated expired "$(d '2 years ago')" "$(d '1 year ago')"
dated notyet "$(d '1 year')" "$(d '2 years')"

# NUL inside the CN / inside a SAN dNSName.
if /usr/bin/python3 -c 'import cryptography' 2> /dev/null; then
	/usr/bin/python3 - "$D" <<-'PY'
	import datetime, sys
	from cryptography import x509
	from cryptography.hazmat.primitives import hashes, serialization
	from cryptography.hazmat.primitives.asymmetric import ec
	from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
	d = sys.argv[1]
	ca_key = serialization.load_pem_private_key(open(d + "/ca.key", "rb").read(), None)
	ca_cert = x509.load_pem_x509_certificate(open(d + "/ca.pem", "rb").read())
	evil = "localhost\x00.other.example"
	now = datetime.datetime.utcnow()
	for name, cn, san in (("nulcn", evil, None), ("nulsan", "nulsan.test", evil)):
	    k = ec.generate_private_key(ec.SECP256R1())
	    b = (x509.CertificateBuilder()
	         .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "satmail test"),
	                                  x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
	         .issuer_name(ca_cert.subject).public_key(k.public_key())
	         .serial_number(x509.random_serial_number())
	         .not_valid_before(now - datetime.timedelta(days=1))
	         .not_valid_after(now + datetime.timedelta(days=365))
	         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
	         .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
	    if san:
	        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
	    c = b.sign(ca_key, hashes.SHA256())
	    open("%s/%s.pem" % (d, name), "wb").write(c.public_bytes(serialization.Encoding.PEM))
	    open("%s/%s.key" % (d, name), "wb").write(k.private_bytes(
	        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
	PY
else
	echo "mkcerts: python3-cryptography missing: nulcn/nulsan not made" >&2
fi
chmod 644 ./*.pem
