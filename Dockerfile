# The confrec image: one image for every role (worker, serve, flower, simulator, CLI); the role is
# the command, as in docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# The runtime lock first (its layer is reused until the lock changes): exactly the versions
# that were tested, each checked against its sha256 (docs/installing.md).
COPY requirements.lock ./requirements.lock
RUN pip install --require-hashes -r requirements.lock
# Metadata, then the package: confrec/ links to the five top-level folders.
COPY pyproject.toml README.md ./
COPY confrec ./confrec
COPY config ./config
COPY tasks ./tasks
COPY service ./service
COPY worker ./worker
COPY simulator ./simulator
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin confrec

# Celery warns against running as root, and nothing here needs to.
USER confrec
CMD ["confrec", "--help"]
