FROM rockylinux:9
RUN yum install httpd
RUN yum update -y && yum clean all
EXPOSE 80
CMD httpd -DFOREGROUND
