// Package scim holds the SCIM 2.0 core of Bulkhead: the schema definitions of
// RFC 7643 (User, the enterprise User extension, Group), attribute lookup,
// normalization of POST and PUT bodies, projection of responses through the
// attributes and excludedAttributes parameters, the writing of a resource
// read from the store straight from its stored text (Resource.AppendJSON),
// and the compilation of SCIM filters and sortBy into SQL over a tenant's
// tables.
//
// The package is pure: no HTTP, no database connection. Errors a client
// should see are *app.Error values with Code app.EINVALID and a SCIM error
// type (RFC 7644 §3.12) in ScimType.
package scim

import "strings"

// Schema URNs used by Bulkhead (RFC 7643 §8.2, RFC 7644 §3.1).
const (
	UserSchemaURN           = "urn:ietf:params:scim:schemas:core:2.0:User"
	GroupSchemaURN          = "urn:ietf:params:scim:schemas:core:2.0:Group"
	EnterpriseUserSchemaURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	SchemaSchemaURN         = "urn:ietf:params:scim:schemas:core:2.0:Schema"
	ResourceTypeSchemaURN   = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
)

// Attribute types (RFC 7643 §2.3).
const (
	TypeString    = "string"
	TypeBoolean   = "boolean"
	TypeDecimal   = "decimal"
	TypeInteger   = "integer"
	TypeDateTime  = "dateTime"
	TypeBinary    = "binary"
	TypeReference = "reference"
	TypeComplex   = "complex"
)

// Attribute characteristics (RFC 7643 §7).
const (
	ReadOnly  = "readOnly"
	ReadWrite = "readWrite"
	Immutable = "immutable"
	WriteOnly = "writeOnly"

	ReturnedAlways  = "always"
	ReturnedNever   = "never"
	ReturnedDefault = "default"
	ReturnedRequest = "request"

	UniqueNone   = "none"
	UniqueServer = "server"
	UniqueGlobal = "global"
)

// Schema is a SCIM schema definition (RFC 7643 §7). Its JSON form is the body
// of one /Schemas resource without "schemas" and "meta"; Document adds them.
type Schema struct {
	ID          string       `json:"id"`
	Name        string       `json:"name,omitempty"`
	Description string       `json:"description,omitempty"`
	Attributes  []*Attribute `json:"attributes"`
}

// Attribute is the definition of one attribute or sub-attribute (RFC 7643 §7).
type Attribute struct {
	Name            string       `json:"name"`
	Type            string       `json:"type"`
	SubAttributes   []*Attribute `json:"subAttributes,omitempty"`
	MultiValued     bool         `json:"multiValued"`
	Description     string       `json:"description,omitempty"`
	Required        bool         `json:"required"`
	CanonicalValues []string     `json:"canonicalValues,omitempty"`
	CaseExact       bool         `json:"caseExact"`
	Mutability      string       `json:"mutability"`
	Returned        string       `json:"returned"`
	Uniqueness      string       `json:"uniqueness"`
	ReferenceTypes  []string     `json:"referenceTypes,omitempty"`
}

// Sub returns the sub-attribute called name, compared case-insensitively
// (RFC 7643 §2.1), or nil when there is none.
func (a *Attribute) Sub(name string) *Attribute {
	return findAttr(a.SubAttributes, name)
}

// findAttr returns the attribute of attrs called name, ignoring case.
func findAttr(attrs []*Attribute, name string) *Attribute {
	for _, a := range attrs {
		if strings.EqualFold(a.Name, name) {
			return a
		}
	}
	return nil
}

// Meta is the "meta" attribute of a discovery resource (RFC 7643 §3.1).
type Meta struct {
	ResourceType string `json:"resourceType"`
	Location     string `json:"location,omitempty"`
}

// SchemaDocument is a Schema as served by /Schemas: the definition plus its
// "schemas" and "meta".
type SchemaDocument struct {
	Schemas []string `json:"schemas"`
	*Schema
	Meta Meta `json:"meta"`
}

// Document returns s as served by /Schemas/{id}; location is its absolute
// URL, which only the web layer knows.
func (s *Schema) Document(location string) SchemaDocument {
	return SchemaDocument{
		Schemas: []string{SchemaSchemaURN},
		Schema:  s,
		Meta:    Meta{ResourceType: "Schema", Location: location},
	}
}

// SchemaExtension names an extension schema of a resource type.
type SchemaExtension struct {
	Schema   string `json:"schema"`
	Required bool   `json:"required"`
}

// ResourceType is a SCIM resource type (RFC 7643 §6) together with what
// Bulkhead needs to store it: its schemas and how its attributes map to the
// tenant's tables. Its JSON form is the body of one /ResourceTypes resource
// without "schemas" and "meta"; Document adds them.
type ResourceType struct {
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	Endpoint         string            `json:"endpoint"`
	Description      string            `json:"description,omitempty"`
	Schema           string            `json:"schema"`
	SchemaExtensions []SchemaExtension `json:"schemaExtensions,omitempty"`

	core       *Schema
	extensions []*Schema
	store      *storage
	tenantExts []*Extension // the tenant's own extensions, for their indexes
	rules      Rules        // the tenant's stricter readings of the RFCs
	derived    *derived     // what the schemas and storage alone determine (derive)
}

// ResourceTypeDocument is a ResourceType as served by /ResourceTypes.
type ResourceTypeDocument struct {
	Schemas []string `json:"schemas"`
	*ResourceType
	Meta Meta `json:"meta"`
}

// Document returns rt as served by /ResourceTypes/{id}; location is its
// absolute URL.
func (rt *ResourceType) Document(location string) ResourceTypeDocument {
	return ResourceTypeDocument{
		Schemas:      []string{ResourceTypeSchemaURN},
		ResourceType: rt,
		Meta:         Meta{ResourceType: "ResourceType", Location: location},
	}
}

// CoreSchema returns the core schema of rt.
func (rt *ResourceType) CoreSchema() *Schema { return rt.core }

// Extensions returns the extension schemas rt accepts.
func (rt *ResourceType) Extensions() []*Schema { return rt.extensions }

// str returns a readWrite, non-multi-valued, caseExact false string
// attribute, the most common kind; the definitions below adjust the rest.
func str(name, description string) *Attribute {
	return &Attribute{
		Name:        name,
		Type:        TypeString,
		Description: description,
		Mutability:  ReadWrite,
		Returned:    ReturnedDefault,
		Uniqueness:  UniqueNone,
	}
}

func boolean(name, description string) *Attribute {
	a := str(name, description)
	a.Type = TypeBoolean
	return a
}

func reference(name, description string, types ...string) *Attribute {
	a := str(name, description)
	a.Type = TypeReference
	a.CaseExact = true
	a.ReferenceTypes = types
	return a
}

func complexAttr(name, description string, multi bool, subs ...*Attribute) *Attribute {
	a := str(name, description)
	a.Type = TypeComplex
	a.MultiValued = multi
	a.SubAttributes = subs
	return a
}

func readOnly(a *Attribute) *Attribute {
	a.Mutability = ReadOnly
	for _, s := range a.SubAttributes {
		readOnly(s)
	}
	return a
}

func immutable(a *Attribute) *Attribute {
	a.Mutability = Immutable
	return a
}

func canonical(a *Attribute, values ...string) *Attribute {
	a.CanonicalValues = values
	return a
}

// multiValue returns a multi-valued complex attribute with the usual value,
// display, type and primary sub-attributes (RFC 7643 §2.4); value is given
// because its type varies.
func multiValue(name, description string, value *Attribute, types ...string) *Attribute {
	return complexAttr(name, description, true,
		value,
		str("display", "A human-readable name, primarily used for display purposes."),
		canonical(str("type", "A label indicating the attribute's function."), types...),
		boolean("primary", "A Boolean value indicating the 'primary' or preferred attribute value for this attribute."),
	)
}

// CommonAttributes are the attributes every resource has (RFC 7643 §3.1).
// They belong to no schema, so /Schemas does not list them, but attribute
// lookup finds them under the core schema URN.
var CommonAttributes = []*Attribute{
	{
		Name: "id", Type: TypeString, CaseExact: true,
		Description: "A unique identifier for a SCIM resource as defined by the service provider.",
		Mutability:  ReadOnly, Returned: ReturnedAlways, Uniqueness: UniqueServer,
	},
	{
		Name: "externalId", Type: TypeString, CaseExact: true,
		Description: "An identifier for the resource as defined by the provisioning client.",
		Mutability:  ReadWrite, Returned: ReturnedDefault, Uniqueness: UniqueNone,
	},
	readOnly(complexAttr("meta", "Resource metadata.", false,
		canonical(str("resourceType", "The name of the resource type of the resource."), "User", "Group"),
		&Attribute{Name: "created", Type: TypeDateTime, Description: "The date and time the resource was added to the service provider.",
			Returned: ReturnedDefault, Uniqueness: UniqueNone},
		&Attribute{Name: "lastModified", Type: TypeDateTime, Description: "The most recent date and time the resource was modified.",
			Returned: ReturnedDefault, Uniqueness: UniqueNone},
		reference("location", "The URI of the resource being returned.", "uri"),
		func() *Attribute {
			a := str("version", "The version of the resource being returned.")
			a.CaseExact = true
			return a
		}(),
	)),
}

// schemasAttribute describes "schemas", which every resource has (RFC 7643
// §3) but no schema defines. Lookup finds it beside the common attributes so
// that filters such as schemas eq "urn:...:enterprise:2.0:User" work.
var schemasAttribute = &Attribute{
	Name: "schemas", Type: TypeReference, MultiValued: true,
	Description: "The schema URIs the resource conforms to.",
	Mutability:  ReadWrite, Returned: ReturnedAlways, Uniqueness: UniqueNone,
	ReferenceTypes: []string{"uri"},
}

// UserSchema is the core User schema (RFC 7643 §4.1, §8.7.1).
var UserSchema = &Schema{
	ID:          UserSchemaURN,
	Name:        "User",
	Description: "User Account",
	Attributes: []*Attribute{
		func() *Attribute {
			a := str("userName", "Unique identifier for the User, typically used by the user to directly authenticate to the service provider.")
			a.Required = true
			a.Uniqueness = UniqueServer
			return a
		}(),
		complexAttr("name", "The components of the user's real name.", false,
			str("formatted", "The full name, including all middle names, titles, and suffixes as appropriate, formatted for display."),
			str("familyName", "The family name of the User, or last name in most Western languages."),
			str("givenName", "The given name of the User, or first name in most Western languages."),
			str("middleName", "The middle name(s) of the User."),
			str("honorificPrefix", "The honorific prefix(es) of the User, or title in most Western languages."),
			str("honorificSuffix", "The honorific suffix(es) of the User, or suffix in most Western languages."),
		),
		str("displayName", "The name of the User, suitable for display to end-users."),
		str("nickName", "The casual way to address the user in real life."),
		reference("profileUrl", "A fully qualified URL pointing to a page representing the User's online profile.", "external"),
		str("title", "The user's title, such as \"Vice President\"."),
		str("userType", "Used to identify the relationship between the organization and the user."),
		str("preferredLanguage", "Indicates the User's preferred written or spoken language."),
		str("locale", "Used to indicate the User's default location for purposes of localizing items such as currency, date time format, or numerical representations."),
		str("timezone", "The User's time zone in the 'Olson' time zone database format, e.g., 'America/Los_Angeles'."),
		boolean("active", "A Boolean value indicating the User's administrative status."),
		func() *Attribute {
			a := str("password", "The User's cleartext password.")
			a.Mutability = WriteOnly
			a.Returned = ReturnedNever
			return a
		}(),
		multiValue("emails", "Email addresses for the user.",
			str("value", "Email address for the user."), "work", "home", "other"),
		multiValue("phoneNumbers", "Phone numbers for the User.",
			str("value", "Phone number of the User."), "work", "home", "mobile", "fax", "pager", "other"),
		multiValue("ims", "Instant messaging addresses for the User.",
			str("value", "Instant messaging address for the User."), "aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"),
		multiValue("photos", "URLs of photos of the User.",
			reference("value", "URL of a photo of the User.", "external"), "photo", "thumbnail"),
		complexAttr("addresses", "A physical mailing address for this User.", true,
			str("formatted", "The full mailing address, formatted for display or use with a mailing label."),
			str("streetAddress", "The full street address component, which may include house number, street name, P.O. box, and multi-line extended street address information."),
			str("locality", "The city or locality component."),
			str("region", "The state or region component."),
			str("postalCode", "The zip code or postal code component."),
			str("country", "The country name component."),
			canonical(str("type", "A label indicating the attribute's function."), "work", "home", "other"),
			boolean("primary", "A Boolean value indicating the 'primary' or preferred address."),
		),
		readOnly(complexAttr("groups", "A list of groups to which the user belongs, either through direct membership, through nested groups, or dynamically calculated.", true,
			str("value", "The identifier of the User's group."),
			reference("$ref", "The URI of the corresponding 'Group' resource to which the user belongs.", "User", "Group"),
			str("display", "A human-readable name, primarily used for display purposes."),
			canonical(str("type", "A label indicating the attribute's function, e.g., 'direct' or 'indirect'."), "direct", "indirect"),
		)),
		multiValue("entitlements", "A list of entitlements for the User that represent a thing the User has.",
			str("value", "The value of an entitlement.")),
		multiValue("roles", "A list of roles for the User that collectively represent who the User is.",
			str("value", "The value of a role.")),
		multiValue("x509Certificates", "A list of certificates issued to the User.",
			&Attribute{Name: "value", Type: TypeBinary, CaseExact: true, Description: "The value of an X.509 certificate.",
				Mutability: ReadWrite, Returned: ReturnedDefault, Uniqueness: UniqueNone}),
	},
}

// EnterpriseUserSchema is the enterprise User extension (RFC 7643 §4.3).
var EnterpriseUserSchema = &Schema{
	ID:          EnterpriseUserSchemaURN,
	Name:        "EnterpriseUser",
	Description: "Enterprise User",
	Attributes: []*Attribute{
		str("employeeNumber", "Numeric or alphanumeric identifier assigned to a person, typically based on order of hire or association with an organization."),
		str("costCenter", "Identifies the name of a cost center."),
		str("organization", "Identifies the name of an organization."),
		str("division", "Identifies the name of a division."),
		str("department", "Identifies the name of a department."),
		complexAttr("manager", "The User's manager.", false,
			str("value", "The id of the SCIM resource representing the User's manager."),
			reference("$ref", "The URI of the SCIM resource representing the User's manager.", "User"),
			readOnly(str("displayName", "The displayName of the User's manager.")),
		),
	},
}

// GroupSchema is the core Group schema (RFC 7643 §4.2, §8.7.1).
var GroupSchema = &Schema{
	ID:          GroupSchemaURN,
	Name:        "Group",
	Description: "Group",
	Attributes: []*Attribute{
		func() *Attribute {
			a := str("displayName", "A human-readable name for the Group, unique within the tenant (case-insensitively).")
			a.Required = true
			a.Uniqueness = UniqueServer // Bulkhead's choice: an IdP retrying a create gets 409, not a twin
			return a
		}(),
		complexAttr("members", "A list of members of the Group.", true,
			immutable(str("value", "Identifier of the member of this Group.")),
			immutable(reference("$ref", "The URI corresponding to a SCIM resource that is a member of this Group.", "User", "Group")),
			str("display", "A human-readable name for the member."),
			immutable(canonical(str("type", "A label indicating the type of resource, e.g., 'User' or 'Group'."), "User", "Group")),
		),
	},
}

// UserResource is the User resource type, served at /Users.
var UserResource = &ResourceType{
	ID:               "User",
	Name:             "User",
	Endpoint:         "/Users",
	Description:      "User Account",
	Schema:           UserSchemaURN,
	SchemaExtensions: []SchemaExtension{{Schema: EnterpriseUserSchemaURN, Required: false}},
	core:             UserSchema,
	extensions:       []*Schema{EnterpriseUserSchema},
	store:            userStorage,
	derived:          new(derived),
}

// GroupResource is the Group resource type, served at /Groups.
var GroupResource = &ResourceType{
	ID:          "Group",
	Name:        "Group",
	Endpoint:    "/Groups",
	Description: "Group",
	Schema:      GroupSchemaURN,
	core:        GroupSchema,
	store:       groupStorage,
	derived:     new(derived),
}

// Schemas lists every schema served by /Schemas.
var Schemas = []*Schema{UserSchema, EnterpriseUserSchema, GroupSchema}

// ResourceTypes lists every resource type served by /ResourceTypes.
var ResourceTypes = []*ResourceType{UserResource, GroupResource}
