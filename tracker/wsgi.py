import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracker.settings")

application = get_wsgi_application()

# The garbage collector, tuned for a long-lived server process (as the Python docs advise for
# pre-fork servers): what start-up made (settings, models, the URLconf) is moved out of its
# reach, and its youngest generation is collected after 20,000 allocations rather than 700. A
# request's thousands of short-lived objects are freed by reference counting anyway; the
# collections over the whole heap were the slowest requests' extra 20 to 100 ms.
gc.collect()
gc.freeze()
gc.set_threshold(20_000, 50, 100)
