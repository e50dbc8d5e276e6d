"""The API's routers, one module per resource, assembled here.

`api_router` holds every route of the service; `files_router` serves local storage's presigned
URLs and is included by `create_app` only when the storage is local.
"""

from fastapi import APIRouter

from serve.routes import auth, billing, clips, jobs, process_video, uploads, webhooks
from serve.routes.files import router as files_router

__all__ = ["api_router", "files_router"]

api_router = APIRouter()
for module in (auth, uploads, jobs, clips, billing, webhooks, process_video):
    api_router.include_router(module.router)
