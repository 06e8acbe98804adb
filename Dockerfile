# Image for the web, worker and beat services of docker-compose.yml.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, in their own layer: code changes do not reinstall them.
# (The project declares no packages, so this installs the dependencies only; the code runs
# from /app.)
COPY pyproject.toml ./
RUN pip install .

COPY . .

# Collect static files into the image, with the production storage (hashed, compressed
# names). The key and host are placeholders for this step only; runtime values come from .env.
RUN DJANGO_DEBUG=false DJANGO_SECRET_KEY=collectstatic-only HISTORY_SEAL_KEY=collectstatic-only DJANGO_ALLOWED_HOSTS=localhost \
    TRACKER_VAR_DIR=/tmp/build-var \
    python manage.py collectstatic --noinput --verbosity 0 \
    && rm -rf /tmp/build-var

# The code stays owned by root; the app user may write only under /app/var (the evidence
# volume is mounted at /app/var/evidence and inherits this ownership when first created).
RUN useradd --create-home --uid 10001 --user-group tracker \
    && mkdir -p /app/var/evidence /app/var/exports /app/var/checkpoints \
    && chown -R tracker:tracker /app/var
USER tracker

EXPOSE 8000
CMD ["gunicorn", "tracker.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
