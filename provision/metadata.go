package provision

// The JSON parts of the multipart bodies flareform sends: an upload's `metadata`, a settings
// PATCH's `settings`. cfapi.EncodeMultipart writes the bodies.

// scriptMetadata is the `metadata` part of a script upload.
type scriptMetadata struct {
	MainModule         string             `json:"main_module"`
	CompatibilityDate  string             `json:"compatibility_date"`
	CompatibilityFlags []string           `json:"compatibility_flags,omitempty"`
	Bindings           []metadataBinding  `json:"bindings"`
	KeepBindings       []string           `json:"keep_bindings"`
	Tags               []string           `json:"tags"`
	Annotations        versionAnnotations `json:"annotations"`
}

// versionMetadata is the metadata of a version upload (POST …/versions), which deploys
// nothing and has no script tags.
type versionMetadata struct {
	MainModule         string             `json:"main_module"`
	CompatibilityDate  string             `json:"compatibility_date"`
	CompatibilityFlags []string           `json:"compatibility_flags,omitempty"`
	Bindings           []metadataBinding  `json:"bindings"`
	KeepBindings       []string           `json:"keep_bindings"`
	Annotations        versionAnnotations `json:"annotations"`
}

// scriptSettings is the `settings` part of a settings PATCH (a new version, deployed at once).
type scriptSettings struct {
	Bindings    []metadataBinding  `json:"bindings"`
	Tags        []string           `json:"tags"`
	Annotations versionAnnotations `json:"annotations"`
}

// versionAnnotations describe the version an upload or settings change creates.
type versionAnnotations struct {
	Message string `json:"workers/message,omitempty"`
}

// metadataBinding is one binding in upload metadata or settings: ai, plain_text, secret_text,
// ratelimit, vectorize, kv_namespace (NamespaceID), r2_bucket, d1 or inherit. Text is a pointer
// so that an empty var is still sent as "text":"".
type metadataBinding struct {
	Type      string  `json:"type"`
	Name      string  `json:"name"`
	Text      *string `json:"text,omitempty"`
	VersionID string  `json:"version_id,omitempty"` // inherit: copy from this version, not the latest
	// ratelimit: the counter's namespace (a positive integer as a string) and its limit.
	NamespaceID string           `json:"namespace_id,omitempty"`
	Simple      *rateLimitSimple `json:"simple,omitempty"`
	IndexName   string           `json:"index_name,omitempty"`  // vectorize: the bound index
	Dataset     string           `json:"dataset,omitempty"`     // analytics_engine: the dataset
	BucketName  string           `json:"bucket_name,omitempty"` // r2_bucket: the bound bucket
	ID          string           `json:"id,omitempty"`          // d1: the bound database's uuid
}

// rateLimitSimple is a ratelimit binding's `simple` limit: Limit requests per Period seconds.
type rateLimitSimple struct {
	Limit  int `json:"limit"`
	Period int `json:"period"`
}

func rateLimitBinding(name, namespaceID string, limit, period int) metadataBinding {
	return metadataBinding{Type: "ratelimit", Name: name, NamespaceID: namespaceID, Simple: &rateLimitSimple{Limit: limit, Period: period}}
}

func vectorizeBinding(name, index string) metadataBinding {
	return metadataBinding{Type: "vectorize", Name: name, IndexName: index}
}

func analyticsEngineBinding(name, dataset string) metadataBinding {
	return metadataBinding{Type: "analytics_engine", Name: name, Dataset: dataset}
}

func aiBinding(name string) metadataBinding { return metadataBinding{Type: "ai", Name: name} }

func plainTextBinding(name, text string) metadataBinding {
	return metadataBinding{Type: "plain_text", Name: name, Text: &text}
}

func secretTextBinding(name, text string) metadataBinding {
	return metadataBinding{Type: "secret_text", Name: name, Text: &text}
}

func inheritBinding(name string) metadataBinding { return metadataBinding{Type: "inherit", Name: name} }
