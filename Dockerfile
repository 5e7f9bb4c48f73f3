# One image for every CodeSight process (web, worker); compose.yaml scales them out.
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY pyproject.toml README.md ./
COPY lab lab
COPY workers workers
COPY web web
COPY extension extension
COPY fixtures fixtures
RUN pip install --no-cache-dir . \
 && mkdir -p web/static/vendor \
 && cp node_modules/htmx.org/dist/htmx.min.js web/static/vendor/htmx.min.js \
 && cp node_modules/htmx-ext-sse/dist/sse.min.js web/static/vendor/htmx-ext-sse.min.js \
 && python -m lab.training.install_encodings --ranks node_modules/js-tiktoken/dist/ranks --out /app/.codesight/tiktoken
ENV CODESIGHT_CHROMIUM_PATH=/usr/bin/chromium CODESIGHT_LOG_JSON=true CODESIGHT_HOST=0.0.0.0 \
    CODESIGHT_TIKTOKEN_CACHE_DIR=/app/.codesight/tiktoken
EXPOSE 8000
CMD ["codesight", "up", "--no-workers"]
