"""People and directory-backed roles from LDAP or Active Directory: `leeway users sync`."""
