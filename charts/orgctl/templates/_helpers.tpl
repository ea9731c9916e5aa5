{{/*
Helpers shared by every template. Kept to plain Go-template and the few Helm
functions the chart's test renderer implements (tests/helm.rs): include,
toYaml, nindent/indent, quote, default, printf, trunc, trimSuffix, contains,
replace, int, required, fail.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "orgctl.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The fully qualified app name: fullnameOverride, else the release name when it
already contains the chart name, else "<release>-<chart>". At most 63
characters, because some Kubernetes name fields are limited to that (DNS
label); names with a suffix truncate it further.
*/}}
{{- define "orgctl.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The directory's objects: "<fullname>-directory", within 52 characters (a
StatefulSet's pods carry a controller-revision-hash label of its name and a
hash, which must fit in 63).
*/}}
{{- define "orgctl.directoryName" -}}
{{- printf "%s-directory" (include "orgctl.fullname" . | trunc 42 | trimSuffix "-") }}
{{- end }}

{{/* The chart label: "<name>-<version>". */}}
{{- define "orgctl.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "orgctl.labels" -}}
helm.sh/chart: {{ include "orgctl.chart" . }}
{{ include "orgctl.selectorLabels" . }}
app.kubernetes.io/version: {{ default .Chart.AppVersion .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: orgctl
{{- end }}

{{/* Labels that select the release's pods (a component label is added per workload). */}}
{{- define "orgctl.selectorLabels" -}}
app.kubernetes.io/name: {{ include "orgctl.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The controller's service account. */}}
{{- define "orgctl.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "orgctl.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The controller's image: repository@digest when a digest is set (the tag is
then ignored), else repository:tag, the tag defaulting to the chart's appVersion.
*/}}
{{- define "orgctl.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The directory's image: directory.image overrides, else the controller's image
(its digest too, unless the directory names another repository or tag).
*/}}
{{- define "orgctl.directoryImage" -}}
{{- $repository := default .Values.image.repository .Values.directory.image.repository }}
{{- $tag := default (default .Chart.AppVersion .Values.image.tag) .Values.directory.image.tag }}
{{- $digest := .Values.directory.image.digest }}
{{- if not (or $digest .Values.directory.image.repository .Values.directory.image.tag) }}
{{- $digest = .Values.image.digest }}
{{- end }}
{{- if $digest }}
{{- printf "%s@%s" $repository $digest }}
{{- else }}
{{- printf "%s:%s" $repository $tag }}
{{- end }}
{{- end }}

{{/* The directory's scheme: https with directory.tls.existingSecret, else http. */}}
{{- define "orgctl.directoryScheme" -}}
{{- if .Values.directory.tls.existingSecret }}https{{ else }}http{{ end }}
{{- end }}

{{/* The Secret holding the directory's bearer token. */}}
{{- define "orgctl.directoryTokenSecret" -}}
{{- if .Values.directory.token.existingSecret }}
{{- .Values.directory.token.existingSecret }}
{{- else }}
{{- printf "%s-token" (include "orgctl.directoryName" .) }}
{{- end }}
{{- end }}

{{/* The key of the directory's token in that Secret. */}}
{{- define "orgctl.directoryTokenKey" -}}
{{- if .Values.directory.token.existingSecret }}
{{- .Values.directory.token.existingSecretKey }}
{{- else -}}
token
{{- end }}
{{- end }}

{{/*
Checks of combinations the schema cannot express; included by the controller
Deployment, so every render runs them.
*/}}
{{- define "orgctl.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 needs leaderElection.enabled=true: without leader election every replica would reconcile the same organizations" }}
{{- end }}
{{- if .Values.directory.enabled }}
{{- if not (or .Values.directory.token.existingSecret .Values.directory.token.value) }}
{{- fail "directory.enabled=true needs the directory's bearer token: set directory.token.existingSecret (a Secret with the token under directory.token.existingSecretKey) or directory.token.value" }}
{{- end }}
{{- if and .Values.directory.token.existingSecret .Values.directory.token.value }}
{{- fail "set only one of directory.token.existingSecret and directory.token.value" }}
{{- end }}
{{- end }}
{{- if .Values.defaultBackend.url }}
{{- $_ := required "defaultBackend.url is set: defaultBackend.tokenSecret.name must name the Secret holding its bearer token" .Values.defaultBackend.tokenSecret.name }}
{{- end }}
{{- end }}

{{/*
The controller's default backend URL: defaultBackend.url, else the in-cluster
directory when directory.enabled, else empty (every Organization then names
its own connection).
*/}}
{{- define "orgctl.backendUrl" -}}
{{- if .Values.defaultBackend.url }}
{{- .Values.defaultBackend.url }}
{{- else if .Values.directory.enabled }}
{{- printf "%s://%s.%s.svc:%d" (include "orgctl.directoryScheme" .) (include "orgctl.directoryName" .) .Release.Namespace (int .Values.directory.service.port) }}
{{- end }}
{{- end }}
