// CloudFront Function (cloudfront-js-2.0), viewer request, on the /e/* and /collections*
// cache behaviours. Every explorer URL (/e/<id>/, /e/<id>, any query string) is one static
// page, the viewer (viewer/index.html in the exports bucket); /collections is the portal's
// index (portal/index.html, also the distribution's root object) and every /collections/<id>
// the collection page (portal/collection.html). The pages read their own URL and load their
// modules from /viewer/ and /portal/ by absolute paths, so nothing under /e/ or /collections/
// is a file of its own. template.yaml inlines this file; tests/unit/test_template.py keeps the
// two identical.
function handler(event) {
  var request = event.request;
  var uri = request.uri;
  if (uri.indexOf('/e/') === 0) {
    request.uri = '/viewer/index.html';
  } else if (uri === '/collections' || uri === '/collections/') {
    request.uri = '/portal/index.html';
  } else {
    request.uri = '/portal/collection.html';
  }
  return request;
}
