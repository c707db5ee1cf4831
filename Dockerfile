# The prediction service: third-party pins from PyPI, the model wheel from the
# project's own index only, started by the same bin/start as everywhere else.
#   docker build --build-arg MODEL_INDEX_URL=https://.../simple/ -t house-prices-api .
#   docker run -p 8001:8001 house-prices-api
# The base image is pinned by digest (the multi-architecture index of the tag), so a
# re-pushed tag cannot change the build; re-pin on purpose for security updates:
#   docker buildx imagetools inspect python:3.11.13-slim-bookworm
FROM python:3.11.13-slim-bookworm@sha256:86adf8dbadc3d6e82ee5dd2c74bec2e1c2467cdad47886280501df722372d2e1

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    OMP_NUM_THREADS=1 \
    PORT=8001

RUN useradd --create-home --uid 10001 api
WORKDIR /srv

COPY requirements/serving.txt requirements/serving.txt
COPY house_prices_api/requirements.txt house_prices_api/requirements-model.txt house_prices_api/
RUN pip install --no-cache-dir -r house_prices_api/requirements.txt

COPY house_prices_api/bin house_prices_api/bin
ARG MODEL_INDEX_URL
RUN test -n "${MODEL_INDEX_URL}" || { echo "build with --build-arg MODEL_INDEX_URL=<index>/simple/" >&2; exit 1; } \
    && MODEL_INDEX_URL="${MODEL_INDEX_URL}" PYTHON=python house_prices_api/bin/install-model --quiet

COPY house_prices_api/app house_prices_api/app

USER api
EXPOSE 8001
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:%s/api/v1/health' % os.environ.get('PORT', '8001'); sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)"]
CMD ["house_prices_api/bin/start"]
