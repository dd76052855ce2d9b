# The Runwire gRPC server. Build from the repository root:
#   docker build -f server.Dockerfile -t runwire-server .
FROM python:3.11-slim

# Tesseract reads the text of uploaded images.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tesseract-ocr \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml README.md ./
COPY generated/python generated/python
COPY server server
COPY clients/python clients/python
RUN pip install --no-cache-dir '.[postgres]' && rm -rf /src

# State (SQLite database and files) lives in /data: mount a volume there.
ENV RUNWIRE_HOST=0.0.0.0 \
    RUNWIRE_PORT=50051 \
    RUNWIRE_DATA_DIR=/data
RUN useradd --system --create-home runwire && mkdir /data && chown runwire /data
USER runwire
VOLUME /data
EXPOSE 50051
# SIGTERM drains: health turns NOT_SERVING, then calls in flight finish.
STOPSIGNAL SIGTERM
CMD ["runwire", "serve"]
