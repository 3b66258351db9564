# Deploy targets beyond the Heroku Git route (included by the Makefile). docs/deploy.md
# says what each does and what was verified offline.
IMAGE ?= census-service
IMAGE_TAG ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo dev)
# The DVC plugin in the pull-at-boot image: s3 | gs | azure | none.
DVC_REMOTE_KIND ?= s3
HEROKU_APP ?=
# make deploy-aws runs from CI without the dev venv: PYTHON_DEPLOY=python there.
PYTHON_DEPLOY ?= $(PY)

.PHONY: image image-baked bench-image lint-deploy heroku-container deploy-aws bench-rolling

# Each target joins its section of the Makefile's `make help`.
##@ Deploy

image: ## Build the pull-at-boot image with docker (DVC_REMOTE_KIND=s3|gs|azure|none)
	docker build --build-arg DVC_REMOTE_KIND=$(DVC_REMOTE_KIND) -t $(IMAGE):$(IMAGE_TAG) .

image-baked: ## Build the image with model/ baked in (no DVC, no credentials at run time)
	@test -f model/metadata.json || $(MAKE) --no-print-directory model
	docker build --target baked -t $(IMAGE):$(IMAGE_TAG)-baked .

heroku-container: $(STAMP) ## Heroku's registry route: push the model, build + push + release the image, smoke-test
	@test -n "$(HEROKU_APP)" -a -n "$(APP_URL)" || { echo "set HEROKU_APP=<app> APP_URL=https://<app>.herokuapp.com"; exit 2; }
	$(DVC) push model
	heroku container:login
	heroku container:push web --app $(HEROKU_APP) --arg DVC_REMOTE_KIND=$(DVC_REMOTE_KIND)
	heroku container:release web --app $(HEROKU_APP)
	$(PY) smoke_test.py $(APP_URL) --attempts 20 --delay 6

deploy-aws: ## Push the model, build + push the image to ECR, deploy it on ECS Fargate behind an ALB
	$(if $(SKIP_MODEL_PUSH),,$(DVC) push model)
	uri=$$($(PYTHON_DEPLOY) -m deploy.aws.ecs --repository-uri) && \
	docker build --build-arg DVC_REMOTE_KIND=$(DVC_REMOTE_KIND) -t $$uri:$(IMAGE_TAG) . && \
	docker push $$uri:$(IMAGE_TAG) && \
	$(PYTHON_DEPLOY) -m deploy.aws.ecs --image $$uri:$(IMAGE_TAG) --wait

##@ Test and lint

lint: lint-deploy

lint-deploy: $(STAMP) ## hadolint the Dockerfile; validate the Kubernetes manifests and workflows
	$(BIN)/hadolint Dockerfile
	$(BIN)/kubernetes-validate --strict --quiet deploy/k8s/*.yaml
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

##@ Benchmarks

bench-image: $(STAMP) ## Build + boot the image with buildah/podman on a stand-in base (root): times, sizes
	$(BIN)/pytest tests/deploy/test_container_image.py -s -p no:cacheprovider

bench-rolling: $(STAMP) ## 3 replicas behind HAProxy under load: rolling replacement and kill -9, in rounds
	$(PY) -m bench.rolling --model-dir $(MODEL_DIR) --rounds 3
