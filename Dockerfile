# syntax=docker/dockerfile:1
# Production image: `schoolbell api` (or worker / beat) as a non-root user. Used by
# docker-compose.yaml.

# --- builder: resolve the locked dependencies into a virtualenv -------------------------------
FROM python:3.11.10-slim-bookworm AS builder

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /src
# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-dev --no-install-project

COPY README.md ./
COPY app ./app
COPY workers ./workers
# Installed as a regular (non-editable) package: the runtime stage needs only the virtualenv.
RUN uv sync --locked --no-dev --no-editable

# --- runtime ----------------------------------------------------------------------------------
FROM python:3.11.10-slim-bookworm AS runtime

ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SCHOOLBELL_DATA_DIR=/var/lib/schoolbell \
    PORT=8000

RUN groupadd --system --gid 10001 schoolbell \
    && useradd --system --uid 10001 --gid schoolbell --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin schoolbell \
    && install -d -o schoolbell -g schoolbell -m 0700 /var/lib/schoolbell

WORKDIR /app
# Owned by root and read-only to the service user: the process cannot rewrite its own code.
COPY --from=builder /app/.venv /app/.venv

# The only writable place: mail files when SMTP_HOST is unset.
VOLUME ["/var/lib/schoolbell"]
USER schoolbell
EXPOSE 8000

# On the port the API listens on (PORT), whatever it is set to.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8000')}/health\", timeout=4)"]

CMD ["sh", "-c", "exec schoolbell api --host 0.0.0.0 --port \"${PORT}\""]
