{{/* Names, labels and shared pod parts of the testdash chart. */}}

{{- define "testdash.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "testdash.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A name within LIMIT characters: cut, with a hash of the whole so two long names never collide. */}}
{{- define "testdash.shortName" -}}
{{- $name := index . 0 -}}
{{- $limit := index . 1 -}}
{{- if le (len $name) $limit -}}
{{- $name -}}
{{- else -}}
{{- printf "%s-%s" ($name | trunc (int (sub $limit 9)) | trimSuffix "-") ($name | sha256sum | trunc 8) -}}
{{- end -}}
{{- end -}}

{{/* CronJob names: Kubernetes allows 52 characters (the Job name gets an 11-character suffix). */}}
{{- define "testdash.engineName" -}}
{{- include "testdash.shortName" (list (printf "%s-engine-%s" (include "testdash.fullname" .root) .server) 52) -}}
{{- end -}}

{{- define "testdash.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "testdash.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: testdash
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "testdash.selectorLabels" -}}
app.kubernetes.io/name: {{ include "testdash.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "testdash.image" -}}
{{- $image := index .root.Values.image .which -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default .root.Chart.AppVersion $image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "testdash.secretName" -}}
{{- default (printf "%s-db" (include "testdash.fullname" .)) .Values.existingSecret -}}
{{- end -}}

{{- define "testdash.webServiceAccount" -}}
{{- if .Values.serviceAccount.create -}}
{{- printf "%s-web" (include "testdash.fullname" .) -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.webName -}}
{{- end -}}
{{- end -}}

{{- define "testdash.engineServiceAccount" -}}
{{- if .Values.serviceAccount.create -}}
{{- printf "%s-engine" (include "testdash.fullname" .) -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.engineName -}}
{{- end -}}
{{- end -}}

{{/* Pod security: restricted Pod Security Standard. */}}
{{- define "testdash.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "testdash.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* The environment every testdash container gets: configuration and the database from the Secret. */}}
{{- define "testdash.env" -}}
- name: FLASK_CONFIG
  value: {{ .Values.config.flaskConfig | quote }}
- name: TESTDASH_INSTANCE_PATH
  value: /var/lib/testdash/instance
- name: DEFAULT_TIMEZONE
  value: {{ .Values.config.defaultTimezone | quote }}
- name: QUEUE_TTL_HOURS
  value: {{ .Values.config.queueTtlHours | quote }}
- name: DB_POOL_SIZE
  value: {{ .Values.database.pool.size | quote }}
- name: DB_MAX_OVERFLOW
  value: {{ .Values.database.pool.maxOverflow | quote }}
- name: DB_POOL_RECYCLE
  value: {{ .Values.database.pool.recycleSeconds | quote }}
{{- $secret := include "testdash.secretName" . }}
{{- range $var, $key := dict "DATABASE_URL" .Values.secretKeys.databaseUrl "POSTGRES_HOST" .Values.secretKeys.host "POSTGRES_PORT" .Values.secretKeys.port "POSTGRES_DB_NAME" .Values.secretKeys.database "POSTGRES_USER" .Values.secretKeys.user "POSTGRES_PASS" .Values.secretKeys.password "POSTGRES_SSLMODE" .Values.secretKeys.sslmode }}
{{- if $key }}
- name: {{ $var }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
      optional: true
{{- end }}
{{- end }}
{{- with .Values.config.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The engine CronJobs' push target (servers and uploads). */}}
{{- define "testdash.pushgatewayEnv" -}}
{{- with .Values.metrics.pushgateway.url }}
- name: PUSHGATEWAY_URL
  value: {{ . | quote }}
{{- end }}
{{- end -}}

{{/* The Pushgateway URL's port: explicit, else the scheme's. */}}
{{- define "testdash.pushgatewayPort" -}}
{{- $url := urlParse .Values.metrics.pushgateway.url -}}
{{- $host := $url.host -}}
{{- if regexMatch ":[0-9]+$" $host -}}
{{- regexFind "[0-9]+$" $host -}}
{{- else if eq $url.scheme "https" -}}
443
{{- else -}}
80
{{- end -}}
{{- end -}}

{{/* Volumes every testdash pod writes to: the root filesystem is read-only. */}}
{{- define "testdash.scratchVolumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
- name: instance
  emptyDir:
    sizeLimit: 64Mi
{{- end -}}

{{- define "testdash.scratchMounts" -}}
- name: tmp
  mountPath: /tmp
- name: instance
  mountPath: /var/lib/testdash/instance
{{- end -}}

{{- define "testdash.migrateJobSpec" -}}
backoffLimit: {{ .Values.migrations.backoffLimit }}
activeDeadlineSeconds: {{ .Values.migrations.activeDeadlineSeconds }}
ttlSecondsAfterFinished: {{ .Values.migrations.ttlSecondsAfterFinished }}
template:
  metadata:
    labels:
      {{- include "testdash.selectorLabels" . | nindent 6 }}
      app.kubernetes.io/component: migrations
  spec:
    restartPolicy: Never
    # The default account: a pre-install hook runs before the chart's own accounts exist.
    automountServiceAccountToken: false
    {{- with .Values.imagePullSecrets }}
    imagePullSecrets:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    securityContext:
      {{- include "testdash.podSecurityContext" . | nindent 6 }}
    containers:
      - name: migrate
        image: {{ include "testdash.image" (dict "root" . "which" "engine") }}
        imagePullPolicy: {{ .Values.image.engine.pullPolicy }}
        {{- if .Values.migrations.rollup }}
        # Then the roll-ups of runs that have none: a no-op once every run has one.
        command: ["/usr/bin/tini", "--", "/bin/sh", "-c"]
        args: ["testdash-engine db upgrade && exec testdash-engine rollup"]
        {{- else }}
        command: ["/usr/bin/tini", "--", "testdash-engine"]
        args: ["db", "upgrade"]
        {{- end }}
        env:
          {{- include "testdash.env" . | nindent 10 }}
        resources:
          {{- toYaml .Values.migrations.resources | nindent 10 }}
        securityContext:
          {{- include "testdash.containerSecurityContext" . | nindent 10 }}
        volumeMounts:
          {{- include "testdash.scratchMounts" . | nindent 10 }}
    volumes:
      {{- include "testdash.scratchVolumes" . | nindent 6 }}
{{- end -}}

{{/* The web's own settings: session key, proxies, and the run-now CronJob lookup. */}}
{{- define "testdash.webEnv" -}}
{{- if .Values.secretKeys.secretKey }}
- name: SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "testdash.secretName" . }}
      key: {{ .Values.secretKeys.secretKey }}
{{- end }}
- name: INGEST_STALE_HOURS
  value: {{ .Values.config.ingestStaleHours | quote }}
- name: PAGE_CACHE_SECONDS
  value: {{ .Values.web.pageCacheSeconds | quote }}
{{- range $var, $value := dict "PROXY_FIX_X_FOR" .Values.web.proxyFix.xFor "PROXY_FIX_X_PROTO" .Values.web.proxyFix.xProto "PROXY_FIX_X_HOST" .Values.web.proxyFix.xHost "PROXY_FIX_X_PORT" .Values.web.proxyFix.xPort "PROXY_FIX_X_PREFIX" .Values.web.proxyFix.xPrefix }}
- name: {{ $var }}
  value: {{ $value | quote }}
{{- end }}
- name: K8S_CRONJOB_SELECTOR
  value: "app.kubernetes.io/name={{ include "testdash.name" . }},app.kubernetes.io/instance={{ .Release.Name }},app.kubernetes.io/component=engine"
- name: K8S_UPLOADS_CRONJOB
  value: {{ if and .Values.web.runNow.enabled .Values.engine.uploads.enabled }}{{ include "testdash.fullname" . }}-uploads{{ else }}""{{ end }}
{{- end -}}

{{/* The claim a server's engine mounts: the existing one, or the one this chart makes. */}}
{{- define "testdash.resultsClaim" -}}
{{- if .volume.existingClaim -}}
{{- .volume.existingClaim.claimName -}}
{{- else -}}
{{- include "testdash.shortName" (list (printf "%s-results-%s" (include "testdash.fullname" .root) .server) 63) -}}
{{- end -}}
{{- end -}}

{{/* Egress every testdash pod needs: DNS and PostgreSQL. */}}
{{- define "testdash.egressCommon" -}}
# DNS, anywhere in the cluster.
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
# PostgreSQL.
- {{- with .Values.networkPolicy.databaseTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  ports:
    - port: {{ .Values.networkPolicy.databasePort }}
      protocol: TCP
{{- end -}}

{{/* prune.serverDays as RETENTION_SERVER_DAYS: "a=30,b=365" (sorted by server). */}}
{{- define "testdash.serverDays" -}}
{{- $pairs := list -}}
{{- range $server, $days := . -}}
{{- $pairs = append $pairs (printf "%s=%d" $server (int $days)) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}
