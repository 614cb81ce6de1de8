"""A real OpenLDAP server for tests: Debian's slapd as a private process on a free port.

Its own cn=config (made with `slapadd -n0` from LDIF), ldap:// and ldaps:// (a certificate
from a CA of its own, `ca_file`), an mdb database for dc=example,dc=org
and the schemas core, cosine, inetorgperson and nis, plus a small Active Directory-like one
(`sAMAccountName`, `memberOf`, `userAccountControl`, a `group` whose `member` is optional)
so the memberOf path can be tested without AD. Never the system's slapd or /etc/ldap. Binds:
the root DN (loading LDIF, passwords via `-y FILE`, never `-w`), `SYNC_DN` (reads the
directory, subject to the size limit) and `LIMITED_DN` (reads it with a size limit of
`SMALL_SIZE_LIMIT`, paged results unlimited: a search without paging fails past that).
Tests make an OU of their own (`new_ou`) so they stay independent on one server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.tls_files import TlsFiles, make_server_certificate
from tests.waiting import eventually

SLAPD = "/usr/sbin/slapd"
SCHEMAS = Path("/etc/ldap/schema")
BASE = "dc=example,dc=org"
ADMIN_DN = f"cn=admin,{BASE}"
ADMIN_PASSWORD = "admin-secret-password"
SYNC_DN = f"cn=leeway-sync,{BASE}"
SYNC_PASSWORD = "sync-secret-password"
LIMITED_DN = f"cn=leeway-limited,{BASE}"
TRUNCATED_DN = f"cn=leeway-truncated,{BASE}"  # size limit 5 even when paged
SMALL_SIZE_LIMIT = 5
# sAMAccountName, userAccountControl, memberOf, objectGUID (16 bytes) and group with Active
# Directory's own OIDs.
AD_SCHEMA = """\
dn: cn=adlike,cn=schema,cn=config
objectClass: olcSchemaConfig
cn: adlike
olcAttributeTypes: ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
olcAttributeTypes: ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
  EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
olcAttributeTypes: ( 1.2.840.113556.1.2.102 NAME 'memberOf'
  EQUALITY distinguishedNameMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 )
olcAttributeTypes: ( 1.2.840.113556.1.4.2 NAME 'objectGUID'
  EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
olcObjectClasses: ( 1.3.6.1.4.1.99999.1.1 NAME 'adAccount' SUP top AUXILIARY
  MAY ( sAMAccountName $ userAccountControl $ memberOf $ objectGUID ) )
olcObjectClasses: ( 1.2.840.113556.1.5.8 NAME 'group' SUP top STRUCTURAL
  MUST cn MAY ( member $ description $ sAMAccountName $ memberOf ) )
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config_ldif(directory: Path, admin_hash: str, tls: TlsFiles) -> str:
    includes = "".join(
        f"include: file://{SCHEMAS / name}.ldif\n"
        for name in ("core", "cosine", "inetorgperson", "nis")
    )
    return f"""\
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {directory / "slapd.pid"}
olcArgsFile: {directory / "slapd.args"}
olcTLSCACertificateFile: {tls.ca}
olcTLSCertificateFile: {tls.certificate}
olcTLSCertificateKeyFile: {tls.key}

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{includes}
{AD_SCHEMA}
dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend
olcSizeLimit: 500

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcRootDN: cn=admin,cn=config
olcRootPW: {admin_hash}

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {BASE}
olcDbDirectory: {directory / "data"}
olcDbMaxSize: 1073741824
olcRootDN: {ADMIN_DN}
olcRootPW: {admin_hash}
olcDbIndex: objectClass eq
olcDbIndex: uid,cn eq
olcDbIndex: member eq
olcLimits: {{0}}dn.exact="{LIMITED_DN}" size.soft={SMALL_SIZE_LIMIT}
  size.hard={SMALL_SIZE_LIMIT} size.prtotal=unlimited
olcLimits: {{1}}dn.exact="{TRUNCATED_DN}" size.soft={SMALL_SIZE_LIMIT}
  size.hard={SMALL_SIZE_LIMIT}
olcLimits: {{2}}dn.exact="{SYNC_DN}" size.soft=500 size.hard=500 size.prtotal=unlimited
olcAccess: {{0}}to attrs=userPassword by anonymous auth by * none
olcAccess: {{1}}to * by users read by * none
"""


def _base_ldif() -> str:
    accounts = "".join(
        f"\ndn: {dn}\nobjectClass: applicationProcess\nobjectClass: simpleSecurityObject\n"
        f"cn: {dn.split(',')[0][3:]}\nuserPassword: {password}\n"
        for dn, password in (
            (SYNC_DN, SYNC_PASSWORD),
            (LIMITED_DN, SYNC_PASSWORD),
            (TRUNCATED_DN, SYNC_PASSWORD),
        )
    )
    top = f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n"
    return top + accounts


@dataclass
class Slapd:
    """One slapd on 127.0.0.1, its configuration and database in `directory`."""

    directory: Path
    port: int = field(default_factory=free_port)
    tls_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        """The same server over TLS, its certificate signed by `ca_file` (not a system CA)."""
        return f"ldaps://localhost:{self.tls_port}"

    @property
    def ca_file(self) -> Path:
        return self.directory / "tls" / "ca.pem"

    @property
    def config_dir(self) -> Path:
        return self.directory / "slapd.d"

    def password_file(self, password: str, name: str | None = None) -> Path:
        """A file holding `password` (no newline: `ldapadd -y` reads it whole), mode 600."""
        path = self.directory / (name or f"password-{uuid.uuid4().hex[:8]}")
        path.touch(mode=0o600)
        path.write_text(password, encoding="utf-8")
        return path

    def setup(self) -> None:
        """The configuration and an empty database with the base entry and service accounts."""
        (self.directory / "data").mkdir(parents=True, exist_ok=True)
        self.config_dir.mkdir(exist_ok=True)
        secret = self.password_file(ADMIN_PASSWORD, "admin.password")
        admin_hash = subprocess.run(
            ["slappasswd", "-T", str(secret)], check=True, capture_output=True, text=True
        ).stdout.strip()
        tls = make_server_certificate(self.directory / "tls")
        config = self.directory / "config.ldif"
        config.write_text(_config_ldif(self.directory, admin_hash, tls), encoding="utf-8")
        self._slapadd(["-n0", "-F", str(self.config_dir), "-l", str(config)])
        self.load_offline(_base_ldif())

    def load_offline(self, ldif: str) -> None:
        """Entries added with slapadd (fast, for bulk loads): only while slapd is stopped."""
        assert self.process is None, "slapadd needs slapd stopped"
        path = self.directory / f"load-{uuid.uuid4().hex[:8]}.ldif"
        path.write_text(ldif, encoding="utf-8")
        self._slapadd(["-q", "-F", str(self.config_dir), "-b", BASE, "-l", str(path)])
        path.unlink()

    def _slapadd(self, arguments: list[str]) -> None:
        done = subprocess.run(["slapadd", *arguments], capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"slapadd {' '.join(arguments)} failed: {done.stderr}")

    def start(self) -> None:
        # -d 0: stay in the foreground (our child, stopped by its pid) and log nothing.
        listen = f"{self.url}/ {self.ldaps_url}/"
        command = [SLAPD, "-h", listen, "-F", str(self.config_dir), "-d", "0"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        eventually(self._answers, f"slapd answering on {self.url}", within=20.0)

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            stderr = self.process.stderr.read().decode() if self.process.stderr else ""
            raise RuntimeError(f"slapd exited with {self.process.returncode}: {stderr}")
        return self.run_tool("ldapwhoami", [], check=False).returncode == 0

    def stop(self) -> None:
        if self.process is None:
            return
        self.resume()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def pause(self) -> None:
        """SIGSTOP: the kernel still accepts connections, slapd never answers them."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)
        eventually(self._stopped, "slapd stopped by SIGSTOP")  # delivery is asynchronous

    def _stopped(self) -> bool:
        assert self.process is not None
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        return stat.rpartition(")")[2].split()[0] in {"T", "t"}

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def run_tool(
        self, tool: str, arguments: list[str], stdin: str = "", *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """An ldap-utils tool bound as the root DN, its password from a file (`-y`)."""
        secret = self.directory / "admin.password"
        command = [tool, "-x", "-H", self.url, "-D", ADMIN_DN, "-y", str(secret), *arguments]
        done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=30)
        if check and done.returncode:
            raise RuntimeError(f"{tool} {' '.join(arguments)} failed: {done.stderr}")
        return done

    def add(self, ldif: str) -> None:
        self.run_tool("ldapadd", [], ldif)

    def modify(self, ldif: str) -> None:
        self.run_tool("ldapmodify", [], ldif)

    def delete(self, *dns: str) -> None:
        self.run_tool("ldapdelete", list(dns))

    def new_ou(self, prefix: str = "t") -> str:
        """A fresh `ou=<prefix>-<random>` under the base, with ou=people and ou=groups in it."""
        ou = f"ou={prefix}-{uuid.uuid4().hex[:10]},{BASE}"
        self.add(
            f"dn: {ou}\nobjectClass: organizationalUnit\nou: {ou.split(',')[0][3:]}\n\n"
            f"dn: ou=people,{ou}\nobjectClass: organizationalUnit\nou: people\n\n"
            f"dn: ou=groups,{ou}\nobjectClass: organizationalUnit\nou: groups\n"
        )
        return ou
